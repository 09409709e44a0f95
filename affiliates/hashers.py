"""Password hashing: Argon2id at one of the minimum configurations OWASP's Password Storage Cheat
Sheet lists as equally strong (they trade memory for passes: 19 MiB x 2, 12 MiB x 3, 9 MiB x 4,
7 MiB x 5, one lane each).

Django's default, PBKDF2-SHA256 at 1,000,000 iterations, costs 0.23 s of CPU per log-in on this
project's reference machine, and its own Argon2 defaults (100 MiB, 8 lanes) 0.5 s: fifty
affiliates logging in together queue for seconds on two cores. Of the equal configurations,
9 MiB x 4 passes: on the 2-core reference machine one check alone takes 16 ms (19 MiB x 2:
20 ms), and two at once 17-19 ms each (19 MiB x 2: 43-44 ms each, as if they ran one after the
other); log-ins do come together. Hashes made with other parameters or with PBKDF2 still check,
and Django re-hashes them with these at the next log-in.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class OwaspArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 4
    memory_cost = 9 * 1024  # KiB
    parallelism = 1
