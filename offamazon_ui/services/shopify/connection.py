"""The stored Shopify connection of a user, and access tokens that stay fresh.

Tokens live only encrypted in ShopConnection; `get_access_token` is the one way
to read one, refreshing it a few minutes before it expires (or when Shopify has
just rejected it) so callers never handle expiry themselves.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from offamazon_ui.config import Settings, get_settings
from offamazon_ui.models import ShopConnection, utcnow
from offamazon_ui.services import erasure
from offamazon_ui.services.crypto import decrypt, encrypt
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.shopify.errors import ReconnectRequired, ShopAlreadyConnected
from offamazon_ui.services.shopify.tokens import TokenGrant, refresh_grant

REFRESH_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class ShopConnectionInfo:
    """What the UI may show about a connection (no tokens)."""

    id: int
    user_id: int
    shop_domain: str
    shop_name: str
    scopes: tuple[str, ...]
    connected_at: datetime
    updated_at: datetime


def _info(row: ShopConnection) -> ShopConnectionInfo:
    assert row.id is not None
    return ShopConnectionInfo(
        id=row.id,
        user_id=row.user_id,
        shop_domain=row.shop_domain,
        shop_name=row.shop_name,
        scopes=tuple(scope for scope in row.scopes.split(",") if scope),
        connected_at=row.connected_at,
        updated_at=row.updated_at,
    )


def is_connected(row: ShopConnection) -> bool:
    # Disconnecting with "keep products" keeps the row, which the imported catalog hangs off, but not its tokens.
    return bool(row.access_token_enc)


def get_shop_connection(user_id: int) -> ShopConnectionInfo | None:
    """The user's connected store; None when there is none or it was disconnected."""
    with session_scope() as session:
        row = session.exec(select(ShopConnection).where(ShopConnection.user_id == user_id)).first()
        return _info(row) if row and is_connected(row) else None


def disconnect_shop(user_id: int, *, keep_products: bool) -> bool:
    """Forget the store's tokens; with keep_products False also delete everything imported from it.

    Kept products stay attached to the connection row, so reconnecting the same
    store picks them up again. Returns False when no store was connected.
    """
    with session_scope() as session:
        row = session.exec(select(ShopConnection).where(ShopConnection.user_id == user_id)).first()
        if row is None or (keep_products and not is_connected(row)):
            return False
        assert row.id is not None
        if not keep_products:
            session.expunge(row)
            return erasure.delete_shop_connection(session, row.id)
        row.access_token_enc = ""
        row.refresh_token_enc = None
        row.access_expires_at = None
        row.refresh_expires_at = None
        row.updated_at = utcnow()
        session.add(row)
        return True


def shop_owner(shop_domain: str) -> int | None:
    """The user a store is connected to, if any."""
    with session_scope() as session:
        row = session.exec(select(ShopConnection).where(ShopConnection.shop_domain == shop_domain)).first()
        return row.user_id if row else None


def save_connection(
    user_id: int, shop_domain: str, shop_name: str, grant: TokenGrant
) -> tuple[ShopConnectionInfo, bool]:
    """Store (or replace) the user's connection; returns it and whether the user was connected before.

    A store already connected to another account is refused. The unique
    constraint on shop_domain settles a race between two accounts installing
    the same store at once.
    """
    now = utcnow()
    try:
        with session_scope() as session:
            owner = session.exec(select(ShopConnection).where(ShopConnection.shop_domain == shop_domain)).first()
            if owner is not None and owner.user_id != user_id:
                raise ShopAlreadyConnected(shop_domain)
            row = session.exec(select(ShopConnection).where(ShopConnection.user_id == user_id)).first()
            reconnected = row is not None
            if row is None:
                row = ShopConnection(
                    user_id=user_id, shop_domain=shop_domain, shop_name=shop_name, scopes="", access_token_enc=""
                )
                row.connected_at = now
            elif row.shop_domain != shop_domain:
                row.connected_at = now
            row.shop_domain = shop_domain
            row.shop_name = shop_name
            _apply_grant(row, grant, now)
            session.add(row)
            session.flush()
            return _info(row), reconnected
    except IntegrityError:
        raise ShopAlreadyConnected(shop_domain) from None


def _apply_grant(row: ShopConnection, grant: TokenGrant, now: datetime) -> None:
    if grant.scopes:
        row.scopes = ",".join(grant.scopes)
    row.access_token_enc = encrypt(grant.access_token)
    row.access_expires_at = grant.access_expires_at
    if grant.refresh_token is not None:
        row.refresh_token_enc = encrypt(grant.refresh_token)
        row.refresh_expires_at = grant.refresh_expires_at
    row.updated_at = now


@dataclass(frozen=True)
class _StoredTokens:
    shop_domain: str
    access_token: str
    access_expires_at: datetime | None
    refresh_token: str | None
    refresh_expires_at: datetime | None


def _load_tokens(shop_connection_id: int) -> _StoredTokens:
    with session_scope() as session:
        row = session.get(ShopConnection, shop_connection_id)
        if row is None or not is_connected(row):
            raise ReconnectRequired("Your Shopify store is no longer connected. Please connect it again.")
        return _StoredTokens(
            shop_domain=row.shop_domain,
            access_token=decrypt(row.access_token_enc),
            access_expires_at=row.access_expires_at,
            refresh_token=decrypt(row.refresh_token_enc) if row.refresh_token_enc else None,
            refresh_expires_at=row.refresh_expires_at,
        )


def _store_refreshed(shop_connection_id: int, grant: TokenGrant) -> None:
    with session_scope() as session:
        row = session.get(ShopConnection, shop_connection_id)
        if row is None or not is_connected(row):  # disconnected while the refresh was in flight
            raise ReconnectRequired("Your Shopify store is no longer connected. Please connect it again.")
        _apply_grant(row, grant, utcnow())
        session.add(row)


def connection_shop_domain(shop_connection_id: int) -> str:
    return _load_tokens(shop_connection_id).shop_domain


# Refreshing rotates the refresh token, so two refreshes of one connection must
# not run at once; locks are per event loop because asyncio locks cannot be shared.
_refresh_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _refresh_lock(shop_connection_id: int) -> asyncio.Lock:
    locks = _refresh_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(shop_connection_id, asyncio.Lock())


def _is_fresh(tokens: _StoredTokens) -> bool:
    return tokens.access_expires_at is None or tokens.access_expires_at - REFRESH_MARGIN > utcnow()


async def get_access_token(
    shop_connection_id: int, *, rejected_token: str | None = None, settings: Settings | None = None
) -> str:
    """A usable access token for the connection.

    Refreshes when the token expires within REFRESH_MARGIN, or when the caller
    passes the token Shopify just answered 401 to (unless another task already
    replaced it). Raises ReconnectRequired when only a new install can help.
    """
    settings = settings or get_settings()
    tokens = await asyncio.to_thread(_load_tokens, shop_connection_id)
    if _is_fresh(tokens) and tokens.access_token != rejected_token:
        return tokens.access_token
    async with _refresh_lock(shop_connection_id):
        tokens = await asyncio.to_thread(_load_tokens, shop_connection_id)
        if _is_fresh(tokens) and tokens.access_token != rejected_token:
            return tokens.access_token
        if tokens.refresh_token is None or (
            tokens.refresh_expires_at is not None and tokens.refresh_expires_at <= utcnow()
        ):
            raise ReconnectRequired(
                f"Your connection to {tokens.shop_domain} has expired. Please reconnect your Shopify store."
            )
        grant = await refresh_grant(settings, tokens.shop_domain, tokens.refresh_token)
        await asyncio.to_thread(_store_refreshed, shop_connection_id, grant)
        return grant.access_token
