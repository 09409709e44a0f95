"""Password hashing: Argon2id at the parameters OWASP's Password Storage Cheat Sheet gives.

Django's default, PBKDF2-SHA256 at 1,000,000 iterations, costs 0.23 s of CPU per log-in on this
project's reference machine, and its own Argon2 defaults (100 MiB, 8 lanes) 0.5 s: fifty
affiliates logging in together queue for seconds on two cores. Argon2id with 19 MiB, two passes
and one lane is OWASP's first recommendation (memory-hard, so a GPU gains far less than against
PBKDF2) and costs about 40 ms. Hashes made with the old parameters or with PBKDF2 still check,
and Django re-hashes them with these at the next log-in.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class OwaspArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
