"""Keyed hashes for one-time secrets and encryption at rest for third-party tokens.

Both derive their keys from OFFAMAZON_SECRET_KEY with HKDF, one key per purpose,
so a leaked database alone reveals neither codes nor tokens.

Rotation: keys listed in OFFAMAZON_PREVIOUS_SECRET_KEYS still decrypt and still
match stored hashes (look-ups use keyed_hash_candidates), but nothing new is
written with them; `python -m offamazon_ui.rotate_keys` re-encrypts stored tokens
under the current key.
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


def _secret_keys() -> tuple[str, ...]:
    """The current key first, then the previous ones."""
    settings = get_settings()
    return (settings.secret_key, *settings.previous_secret_keys)


@lru_cache(maxsize=1)
def _hash_keys() -> tuple[bytes, ...]:
    return tuple(_derive(key, "offamazon/keyed-hash/v1") for key in _secret_keys())


def _keyed_hash_with(key: bytes, purpose: str, value: str) -> str:
    message = f"{purpose}\x00{value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of a secret, bound to what it is for (e.g. 'otp:verify:42'), under the current key."""
    return _keyed_hash_with(_hash_keys()[0], purpose, value)


def keyed_hash_candidates(purpose: str, value: str) -> list[str]:
    """The value's hash under the current key, then under each previous key: what a stored hash may be."""
    return [_keyed_hash_with(key, purpose, value) for key in _hash_keys()]


def hashes_match(expected: str, actual: str) -> bool:
    return hmac.compare_digest(expected.encode(), actual.encode())


def fernet_for(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(secret_key, "offamazon/token-encryption/v1")))


@lru_cache(maxsize=1)
def _cipher() -> MultiFernet:
    # MultiFernet encrypts with the first key and decrypts with any of them.
    return MultiFernet([fernet_for(key) for key in _secret_keys()])


def encrypt(plaintext: str) -> str:
    return _cipher().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """Raises TokenUnreadable if the value was not encrypted with a current key."""
    try:
        return _cipher().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenUnreadable("stored token cannot be decrypted with the configured secret key") from None


def reencrypt(ciphertext: str) -> str | None:
    """The value encrypted under the current key, or None if it already is; raises TokenUnreadable."""
    try:
        fernet_for(get_settings().secret_key).decrypt(ciphertext.encode())
        return None
    except InvalidToken:
        pass
    try:
        return _cipher().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenUnreadable("stored token cannot be decrypted with any configured secret key") from None


class TokenUnreadable(Exception):
    pass
