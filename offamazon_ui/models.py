"""Database tables (plain SQLModel; rx.Model is deprecated).

Secrets are never stored as they are: passwords as bcrypt hashes, one-time
codes and session tokens as keyed HMACs, Shopify and Amazon tokens encrypted
(see services/crypto.py). Times are naive UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import NaiveDatetime
from sqlmodel import Field, SQLModel

# sqlmodel >= 0.0.45 maps a plain `datetime` field to an aware-only type that rejects
# naive values when a statement runs; fields annotated NaiveDatetime store naive UTC.


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    password_hash: str = Field(max_length=100)
    email_verified_at: NaiveDatetime | None = None
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds the token, the table only its HMAC."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    last_seen_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime
    revoked_at: NaiveDatetime | None = None


class SessionTicket(SQLModel, table=True):
    """Single-use hand-over from a websocket event to the cookie-setting route."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    ticket_hash: str = Field(max_length=64, unique=True, index=True)
    expires_at: NaiveDatetime
    used_at: NaiveDatetime | None = None


class OneTimeCode(SQLModel, table=True):
    """Emailed 6-digit code for verifying an address or resetting a password."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=20)
    code_hash: str = Field(max_length=64)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime
    failed_attempts: int = 0
    consumed_at: NaiveDatetime | None = None
    superseded_at: NaiveDatetime | None = None


class AuthEvent(SQLModel, table=True):
    """Counted for rate limits: failures and sends, per account and per client IP.

    `subject` is a keyed hash of the normalised email, set whether or not an
    account exists, so limits on unknown addresses behave exactly like limits
    on real ones and reveal nothing.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30, index=True)
    subject: str | None = Field(default=None, max_length=64, index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True, ondelete="CASCADE")
    client_ip: str | None = Field(default=None, max_length=64, index=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow, index=True)


# Amazon


class AmazonConnection(SQLModel, table=True):
    """A user's verified SP-API credentials; replaced only by credentials that passed every check."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, index=True, ondelete="CASCADE")
    marketplace_id: str = Field(max_length=20)
    region: str = Field(max_length=2)
    seller_id: str = Field(max_length=20)
    store_name: str = Field(max_length=255)
    refresh_token_enc: str = Field(max_length=4096)
    connected_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)


# Shopify


class OAuthState(SQLModel, table=True):
    """A pending Shopify install: the `state` nonce (stored as a keyed hash) binds the callback to one user and shop."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    shop: str = Field(max_length=255)
    nonce_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime = Field(index=True)
    used_at: NaiveDatetime | None = None


class ShopConnection(SQLModel, table=True):
    """A user's connected Shopify store; one store per user and one user per store. Tokens are encrypted."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, index=True, ondelete="CASCADE")
    shop_domain: str = Field(max_length=255, unique=True, index=True)
    shop_name: str = Field(max_length=255)
    scopes: str = Field(max_length=1000)
    access_token_enc: str = Field(max_length=4096)
    refresh_token_enc: str | None = Field(default=None, max_length=4096)
    access_expires_at: NaiveDatetime | None = None
    refresh_expires_at: NaiveDatetime | None = None
    connected_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
