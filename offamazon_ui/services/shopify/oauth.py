"""Connect a Shopify store with OAuth's authorization code grant (non-embedded app).

begin_install() hands out the authorize URL with a fresh `state` nonce bound to
the signed-in user; complete_install() runs when Shopify redirects back to
CALLBACK_PATH. The callback is checked in a fixed order — HMAC, state, shop,
timestamp — and nothing is exchanged or stored unless every check passes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, quote, urlencode

from sqlalchemy import delete, update
from sqlmodel import col, select

from offamazon_ui.config import Settings, get_settings
from offamazon_ui.models import OAuthState, utcnow
from offamazon_ui.services.crypto import keyed_hash, keyed_hash_candidates
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.shopify.connection import save_connection, shop_owner
from offamazon_ui.services.shopify.domains import is_shop_domain, normalize_shop_domain
from offamazon_ui.services.shopify.errors import (
    TRY_AGAIN,
    CallbackRejected,
    InstallFailed,
    ShopAlreadyConnected,
)
from offamazon_ui.services.shopify.graphql import ShopifyClient, static_token
from offamazon_ui.services.shopify.tokens import TokenGrant, exchange_code
from offamazon_ui.services.shopify.webhooks import subscribe_webhooks

log = logging.getLogger(__name__)

CALLBACK_PATH = "/auth/shopify/callback"
STATE_LIFETIME = timedelta(minutes=10)
TIMESTAMP_TOLERANCE_SECONDS = 300
_STATE_HASH_PURPOSE = "shopify-oauth-state"


def callback_url(settings: Settings | None = None) -> str:
    """The redirect URI registered with Shopify; the backend serves CALLBACK_PATH."""
    return f"{(settings or get_settings()).backend_url}{CALLBACK_PATH}"


@dataclass(frozen=True)
class ConnectResult:
    shop_domain: str
    shop_name: str
    scopes: tuple[str, ...]
    reconnected: bool


# --- HMAC of Shopify's redirect query ------------------------------------------------


def _escape(text: str, *, is_key: bool) -> str:
    escaped = text.replace("%", "%25").replace("&", "%26")
    return escaped.replace("=", "%3D") if is_key else escaped


def query_hmac(params: Iterable[tuple[str, str]], secret: str) -> str:
    """Shopify's signature of a redirect: hex HMAC-SHA256 over the sorted `k=v` pairs, hmac/signature left out."""
    pairs = sorted((key, value) for key, value in params if key not in ("hmac", "signature"))
    message = "&".join(f"{_escape(key, is_key=True)}={_escape(value, is_key=False)}" for key, value in pairs)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_query_hmac(params: dict[str, str], secret: str) -> bool:
    received = params.get("hmac", "")
    return hmac.compare_digest(query_hmac(params.items(), secret).encode(), received.lower().encode())


# --- state nonce ---------------------------------------------------------------------------


def _nonce_hash(nonce: str) -> str:
    return keyed_hash(_STATE_HASH_PURPOSE, nonce)


def _create_state(user_id: int, shop_domain: str) -> str:
    nonce = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope() as session:
        session.connection().execute(delete(OAuthState).where(OAuthState.expires_at < now - timedelta(days=1)))  # type: ignore[arg-type]
        expires_at = now + STATE_LIFETIME
        session.add(OAuthState(user_id=user_id, shop=shop_domain, nonce_hash=_nonce_hash(nonce), expires_at=expires_at))
    return nonce


def _consume_state(user_id: int | None, nonce: str) -> str:
    """Mark the nonce used (at most once, atomically) and return the shop it was issued for."""
    if not nonce:
        raise CallbackRejected(f"Shopify's answer was incomplete. {TRY_AGAIN}", code="state_missing")
    # Any configured key: installs begun before a key rotation still complete.
    same_nonce = col(OAuthState.nonce_hash).in_(keyed_hash_candidates(_STATE_HASH_PURPOSE, nonce))
    now = utcnow()
    with session_scope() as session:
        if user_id is not None:
            claimed = session.connection().execute(
                update(OAuthState)
                .where(same_nonce)
                .where(OAuthState.user_id == user_id)  # type: ignore[arg-type]
                .where(OAuthState.used_at.is_(None))  # type: ignore[union-attr]
                .where(OAuthState.expires_at > now)  # type: ignore[arg-type]
                .values(used_at=now)
            )
            if claimed.rowcount == 1:
                claimed_state = session.exec(select(OAuthState).where(same_nonce)).one()
                return claimed_state.shop
        state = session.exec(select(OAuthState).where(same_nonce)).first()
    if user_id is None:
        raise CallbackRejected(
            "You were signed out while connecting Shopify. Sign in and connect your store again.", code="not_signed_in"
        )
    if state is None:
        raise CallbackRejected(f"This Shopify connection link is not valid. {TRY_AGAIN}", code="state_unknown")
    if state.user_id != user_id:
        raise CallbackRejected(
            "This Shopify connection was started from a different account. Sign in with that account, "
            "or connect your store again from this one.",
            code="state_foreign",
        )
    if state.used_at is not None:
        raise CallbackRejected(
            f"This Shopify connection link was already used (for example by reloading the page). {TRY_AGAIN}",
            code="state_used",
        )
    raise CallbackRejected(
        f"The Shopify connection took longer than {STATE_LIFETIME.seconds // 60} minutes and expired. {TRY_AGAIN}",
        code="state_expired",
    )


# --- the flow ------------------------------------------------------------------------------


def begin_install(user_id: int, raw_shop: str, *, settings: Settings | None = None) -> str:
    """The Shopify authorize URL to send the user to. Raises InvalidShopDomain or ShopAlreadyConnected."""
    settings = settings or get_settings()
    shop_domain = normalize_shop_domain(raw_shop)
    owner = shop_owner(shop_domain)
    if owner is not None and owner != user_id:
        raise ShopAlreadyConnected(shop_domain)
    state = _create_state(user_id, shop_domain)
    query = urlencode(
        {
            "client_id": settings.shopify_api_key,
            "scope": ",".join(settings.shopify_scopes),
            "redirect_uri": callback_url(settings),
            "state": state,
        },
        quote_via=quote,
    )
    return f"{settings.shop_base_url(shop_domain)}/admin/oauth/authorize?{query}"


def _parse_callback(query_string: str) -> dict[str, str]:
    pairs = parse_qsl(query_string.lstrip("?"), keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        # Repeated keys make the signed text ambiguous; Shopify never sends them.
        raise CallbackRejected(f"Shopify's answer could not be verified. {TRY_AGAIN}", code="bad_hmac")
    return params


async def complete_install(
    query_string: str, user_id: int | None, *, settings: Settings | None = None
) -> ConnectResult:
    """Verify Shopify's redirect, exchange its code for tokens and store the connection.

    Raises a ShopifyError subclass (message ready for the merchant) on any failure;
    in that case no token was stored, and if a check failed no code was exchanged.
    """
    settings = settings or get_settings()
    params = _parse_callback(query_string)
    if not params.get("hmac") or not verify_query_hmac(params, settings.shopify_api_secret):
        raise CallbackRejected(f"Shopify's answer could not be verified. {TRY_AGAIN}", code="bad_hmac")
    expected_shop = await asyncio.to_thread(_consume_state, user_id, params.get("state", ""))
    shop_domain = params.get("shop", "")
    if not is_shop_domain(shop_domain) or not hmac.compare_digest(shop_domain, expected_shop):
        raise CallbackRejected(
            f"Shopify answered for a different store than the one you entered ({expected_shop}). {TRY_AGAIN}",
            code="shop_mismatch",
        )
    if not _timestamp_is_recent(params.get("timestamp", "")):
        raise CallbackRejected(
            "Shopify's answer is too old or your computer's clock is off. " + TRY_AGAIN, code="stale_timestamp"
        )
    code = params.get("code", "")
    if not code:
        raise CallbackRejected(f"Shopify's answer was incomplete. {TRY_AGAIN}", code="code_missing")
    assert user_id is not None  # _consume_state refused anonymous callbacks
    owner = await asyncio.to_thread(shop_owner, shop_domain)
    if owner is not None and owner != user_id:
        raise ShopAlreadyConnected(shop_domain)

    grant = await exchange_code(settings, shop_domain, code)
    _require_scopes(settings.shopify_scopes, grant)
    async with ShopifyClient(shop_domain, static_token(grant.access_token), settings=settings) as client:
        shop = await client.fetch_shop()
        if shop.myshopify_domain != shop_domain:
            raise InstallFailed(
                f"Shopify answered for a different store than {shop_domain}. {TRY_AGAIN}", code="shop_mismatch"
            )
        info, reconnected = await asyncio.to_thread(save_connection, user_id, shop_domain, shop.name[:255], grant)
        await _subscribe_quietly(client, settings)
    return ConnectResult(shop_domain=shop_domain, shop_name=info.shop_name, scopes=info.scopes, reconnected=reconnected)


async def _subscribe_quietly(client: ShopifyClient, settings: Settings) -> None:
    """The store is connected whatever happens here; without webhooks the catalog only updates on a re-sync,
    and the settings page lists the subscriptions (and offers to create them again)."""
    try:
        failed = await subscribe_webhooks(client, settings=settings)
    except Exception as error:
        log.warning("webhook subscriptions for %s not created (%s)", client.shop_domain, type(error).__name__)
        return
    if failed:
        log.warning("webhook subscriptions for %s not created: %s", client.shop_domain, ", ".join(failed))


def _timestamp_is_recent(value: str) -> bool:
    try:
        timestamp = int(value)
    except ValueError:
        return False
    return abs(time.time() - timestamp) <= TIMESTAMP_TOLERANCE_SECONDS


def _require_scopes(requested: Iterable[str], grant: TokenGrant) -> None:
    """Shopify may grant fewer scopes than asked (a merchant-edited URL); a write scope implies its read scope."""
    granted = set(grant.scopes)
    missing = [
        scope
        for scope in requested
        if scope not in granted and not (scope.startswith("read_") and f"write_{scope[5:]}" in granted)
    ]
    if missing:
        raise InstallFailed(
            f"Shopify did not grant all the permissions we need ({', '.join(missing)} is missing), "
            "so we cannot import your products. Connect again and approve every requested permission.",
            code="missing_scopes",
        )
