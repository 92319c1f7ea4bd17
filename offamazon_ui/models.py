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


# Import

from decimal import Decimal  # noqa: E402  imports kept with the tables that need them

import sqlalchemy as sa  # noqa: E402

ACTIVE_IMPORT_WHERE = sa.text("status IN ('queued', 'running')")


class ImportJob(SQLModel, table=True):
    """One import of a shop's catalog: status, progress, where to resume, and which process holds it (a lease).

    The partial unique index allows one queued-or-running job per shop, on SQLite and PostgreSQL alike.
    """

    __table_args__ = (
        sa.Index(
            "uq_importjob_active_shop",
            "shop_connection_id",
            unique=True,
            sqlite_where=ACTIVE_IMPORT_WHERE,
            postgresql_where=ACTIVE_IMPORT_WHERE,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_connection_id: int = Field(foreign_key="shopconnection.id", index=True, ondelete="CASCADE")
    status: str = Field(default="queued", max_length=16)
    strategy: str = Field(default="bulk", max_length=16)
    products_total: int | None = None
    variants_total: int | None = None
    products_seen: int = 0
    variants_seen: int = 0
    bulk_operation_id: str | None = Field(default=None, max_length=255)
    bulk_offset: int = Field(default=0, sa_type=sa.BigInteger)
    page_cursor: str | None = Field(default=None, max_length=2000)
    attempts: int = 0
    failures: int = 0
    run_after: NaiveDatetime | None = None
    lease_owner: str | None = Field(default=None, max_length=255)
    lease_expires_at: NaiveDatetime | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    started_at: NaiveDatetime | None = None
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
    finished_at: NaiveDatetime | None = None


class ShopifyProduct(SQLModel, table=True):
    """A product as last imported from the store; `problems` is the union of its variants' readiness problems."""

    __table_args__ = (sa.UniqueConstraint("shop_connection_id", "shopify_id", name="uq_shopifyproduct_shop_item"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_connection_id: int = Field(foreign_key="shopconnection.id", ondelete="CASCADE")
    shopify_id: str = Field(max_length=100)
    title: str
    handle: str
    vendor: str
    product_type: str
    status: str = Field(max_length=16)
    tags: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    description_html: str = Field(default="", sa_type=sa.Text)
    featured_image_url: str | None = None
    shopify_updated_at: NaiveDatetime | None = None
    variant_count: int = 0
    price_min: Decimal | None = Field(default=None, max_digits=18, decimal_places=4)
    price_max: Decimal | None = Field(default=None, max_digits=18, decimal_places=4)
    total_inventory: int = 0
    product_problems: int = 0
    problems: int = 0
    last_seen_job_id: int | None = None
    imported_at: NaiveDatetime = Field(default_factory=utcnow)
    removed_at: NaiveDatetime | None = None


class ShopifyVariant(SQLModel, table=True):
    """A variant, joined to its product by Shopify id (bulk exports may list it before its product)."""

    __table_args__ = (
        sa.UniqueConstraint("shop_connection_id", "shopify_id", name="uq_shopifyvariant_shop_item"),
        sa.Index("ix_shopifyvariant_shop_product", "shop_connection_id", "product_shopify_id"),
        sa.Index("ix_shopifyvariant_shop_sku", "shop_connection_id", "sku"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_connection_id: int = Field(foreign_key="shopconnection.id", ondelete="CASCADE")
    shopify_id: str = Field(max_length=100)
    product_shopify_id: str = Field(max_length=100)
    title: str
    sku: str | None = None
    barcode: str | None = None
    price: Decimal | None = Field(default=None, max_digits=18, decimal_places=4)
    compare_at_price: Decimal | None = Field(default=None, max_digits=18, decimal_places=4)
    inventory_quantity: int | None = None
    options: list[dict[str, str]] = Field(default_factory=list, sa_type=sa.JSON)
    problems: int = 0
    last_seen_job_id: int | None = None
    imported_at: NaiveDatetime = Field(default_factory=utcnow)
    removed_at: NaiveDatetime | None = None


class ShopifyProductImage(SQLModel, table=True):
    """An image of a product (from its media), joined to the product by Shopify id."""

    __table_args__ = (
        sa.UniqueConstraint("shop_connection_id", "shopify_id", name="uq_shopifyproductimage_shop_item"),
        sa.Index("ix_shopifyproductimage_shop_product", "shop_connection_id", "product_shopify_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_connection_id: int = Field(foreign_key="shopconnection.id", ondelete="CASCADE")
    shopify_id: str = Field(max_length=100)
    product_shopify_id: str = Field(max_length=100)
    url: str
    alt_text: str | None = None
    last_seen_job_id: int | None = None


# Settings


class TwoFactor(SQLModel, table=True):
    """A user's authenticator app (TOTP): the secret encrypted; in force once a code confirmed the setup."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, index=True, ondelete="CASCADE")
    secret_enc: str = Field(max_length=1024)
    # The newest 30-second time step a code was accepted for; a code for it or an older step is a replay.
    last_used_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    enabled_at: NaiveDatetime | None = None


class RecoveryCode(SQLModel, table=True):
    """A single-use code for signing in without the authenticator app; only its keyed hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, index=True)
    used_at: NaiveDatetime | None = None


class TwoFactorChallenge(SQLModel, table=True):
    """A sign-in whose password was right and that still needs the second factor; single use, short-lived."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    expires_at: NaiveDatetime
    failed_attempts: int = 0
    used_at: NaiveDatetime | None = None


# Webhooks


class WebhookDelivery(SQLModel, table=True):
    """A verified Shopify webhook, stored before it is answered so a crash leaves it to process later.

    `webhook_id` is unique: Shopify retries a delivery with the same id, and a retry is stored (and acted on) once.
    The link to the connection (when the shop is connected here) lets erasing a shop or an account erase its
    deliveries, whose payloads hold the shop's data.
    """

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: str = Field(max_length=255, unique=True, index=True)
    topic: str = Field(max_length=100)
    shop_domain: str = Field(max_length=255, index=True)
    shop_connection_id: int | None = Field(
        default=None, foreign_key="shopconnection.id", index=True, ondelete="CASCADE"
    )
    payload: str = Field(sa_type=sa.Text)
    received_at: NaiveDatetime = Field(default_factory=utcnow)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    processed_at: NaiveDatetime | None = Field(default=None, index=True)
