"""Distance between a warehouse and a ship-to address, good enough to pick the closest warehouse.

We know each side's US state and postal code. States give a distance through their approximate
geographic centres; within one state, or as a tie-break, the closer ZIP prefix wins (ZIP codes
are assigned roughly along the country, so nearby prefixes are nearby places).
"""

import math

# Approximate centre (latitude, longitude) of each state and DC.
STATE_CENTRES = {
    "AL": (32.8, -86.8), "AK": (64.7, -152.0), "AZ": (34.3, -111.7), "AR": (34.9, -92.4),
    "CA": (37.2, -119.5), "CO": (39.0, -105.5), "CT": (41.6, -72.7), "DE": (39.0, -75.5),
    "DC": (38.9, -77.0), "FL": (28.6, -82.4), "GA": (32.7, -83.4), "HI": (20.3, -156.4),
    "ID": (44.4, -114.6), "IL": (40.0, -89.2), "IN": (39.9, -86.3), "IA": (42.1, -93.5),
    "KS": (38.5, -98.4), "KY": (37.5, -85.3), "LA": (31.1, -92.0), "ME": (45.4, -69.2),
    "MD": (39.0, -76.8), "MA": (42.3, -71.8), "MI": (44.3, -85.4), "MN": (46.3, -94.3),
    "MS": (32.7, -89.7), "MO": (38.4, -92.5), "MT": (47.0, -109.6), "NE": (41.5, -99.8),
    "NV": (39.3, -116.6), "NH": (43.7, -71.6), "NJ": (40.2, -74.7), "NM": (34.4, -106.1),
    "NY": (42.9, -75.5), "NC": (35.6, -79.4), "ND": (47.5, -100.5), "OH": (40.3, -82.8),
    "OK": (35.6, -97.5), "OR": (43.9, -120.6), "PA": (40.9, -77.8), "RI": (41.7, -71.5),
    "SC": (33.9, -80.9), "SD": (44.4, -100.2), "TN": (35.9, -86.4), "TX": (31.5, -99.3),
    "UT": (39.3, -111.7), "VT": (44.1, -72.7), "VA": (37.5, -78.9), "WA": (47.4, -120.5),
    "WV": (38.6, -80.6), "WI": (44.6, -89.9), "WY": (43.0, -107.6),
}  # fmt: skip

EARTH_RADIUS_MILES = 3959
# A warehouse whose location we do not know is taken to be this far: after every known one.
UNKNOWN_DISTANCE = 10_000.0


def _haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(h))


def _zip3(postal_code: str) -> int | None:
    digits = "".join(ch for ch in postal_code or "" if ch.isdigit())
    return int(digits[:3]) if len(digits) >= 3 else None


def distance_key(
    *, from_state: str, from_postal: str, to_state: str, to_postal: str
) -> tuple[float, int]:
    """A sort key: (miles between state centres, ZIP-prefix gap). Smaller is closer."""
    a = STATE_CENTRES.get((from_state or "").upper())
    b = STATE_CENTRES.get((to_state or "").upper())
    miles = _haversine(a, b) if a and b else UNKNOWN_DISTANCE
    z1, z2 = _zip3(from_postal), _zip3(to_postal)
    gap = abs(z1 - z2) if z1 is not None and z2 is not None else 1000
    return round(miles, 1), gap
