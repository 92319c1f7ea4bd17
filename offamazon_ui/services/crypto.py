"""Keyed hashes for one-time secrets and encryption at rest for third-party tokens.

Both derive their keys from OFFAMAZON_SECRET_KEY with HKDF, one key per purpose,
so a leaked database alone reveals neither codes nor tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from offamazon_ui.config import get_settings


def _derive(secret_key: str, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret_key.encode())


@lru_cache(maxsize=1)
def _hash_key() -> bytes:
    return _derive(get_settings().secret_key, "offamazon/keyed-hash/v1")


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of a secret, bound to what it is for (e.g. 'otp:verify:42')."""
    message = f"{purpose}\x00{value}".encode()
    return hmac.new(_hash_key(), message, hashlib.sha256).hexdigest()


def hashes_match(expected: str, actual: str) -> bool:
    return hmac.compare_digest(expected.encode(), actual.encode())


def fernet_for(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, "offamazon/token-encryption/v1")))


@lru_cache(maxsize=1)
def _cipher() -> MultiFernet:
    return MultiFernet([fernet_for(get_settings().secret_key)])


def encrypt(plaintext: str) -> str:
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Raises TokenUnreadable if the value was not encrypted with a current key."""
    try:
        return _cipher().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenUnreadable("stored token cannot be decrypted with the configured secret key") from None


class TokenUnreadable(Exception):
    pass
