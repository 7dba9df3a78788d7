"""API key material: generation, hashing and constant-time comparison.

Only a SHA-256 digest of a key is stored.  The key's first characters are kept in clear as
its prefix, so people can tell their keys apart in listings without the secret.
"""

import hashlib
import hmac
import secrets

KEY_PREFIX_LENGTH = 10
MIN_KEY_LENGTH = 20


def generate_key() -> str:
    return "ac_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    return key[:KEY_PREFIX_LENGTH]


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)
