"""Shopify's token endpoint: exchange an install code, and refresh an expiring offline token.

We always ask for expiring offline tokens (`expiring=1`): Shopify requires them
for new public apps, and a leaked access token is then only good for an hour.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from offamazon_ui.config import Settings
from offamazon_ui.models import utcnow
from offamazon_ui.services.shopify.errors import (
    InstallFailed,
    ReconnectRequired,
    ShopifyError,
    ShopifyUnreachable,
    shop_status_error,
)
from offamazon_ui.services.shopify.retry import RETRYABLE_STATUSES, RetryPolicy, retry_after_seconds

GRANT_PATH = "/admin/oauth/access_token"
TOKEN_RETRY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=5.0)
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=10.0)

Purpose = Literal["install", "refresh"]


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint granted; secrets are kept out of repr so they never reach a log."""

    access_token: str = field(repr=False)
    scopes: tuple[str, ...]
    access_expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: datetime | None = None


async def exchange_code(settings: Settings, shop_domain: str, code: str) -> TokenGrant:
    body = {
        "client_id": settings.shopify_api_key,
        "client_secret": settings.shopify_api_secret,
        "code": code,
        "expiring": "1",
    }
    return await _request_grant(settings, shop_domain, body, "install")


async def refresh_grant(settings: Settings, shop_domain: str, refresh_token: str) -> TokenGrant:
    body = {
        "client_id": settings.shopify_api_key,
        "client_secret": settings.shopify_api_secret,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return await _request_grant(settings, shop_domain, body, "refresh")


async def _request_grant(settings: Settings, shop_domain: str, body: dict[str, str], purpose: Purpose) -> TokenGrant:
    retry = TOKEN_RETRY
    url = settings.shop_base_url(shop_domain) + GRANT_PATH
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        for attempt in range(1, retry.attempts + 1):
            retry_after = None
            try:
                response = await http.post(url, json=body, headers={"Accept": "application/json"})
            except httpx.TransportError:
                pass
            else:
                if response.status_code == 200:
                    return _grant_from(response, shop_domain)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise _error_for(response.status_code, shop_domain, purpose)
                retry_after = retry_after_seconds(response)
            if attempt < retry.attempts:
                await asyncio.sleep(retry.delay(attempt, retry_after))
    raise ShopifyUnreachable("Shopify is not responding right now. Please try again in a few minutes.")


def _grant_from(response: httpx.Response, shop_domain: str) -> TokenGrant:
    try:
        payload: dict[str, Any] = response.json()
        access_token = str(payload["access_token"])
    except (ValueError, KeyError, TypeError):
        raise InstallFailed(
            f"Shopify sent an unexpected answer while connecting {shop_domain}. Please try again.",
            code="unexpected_response",
        ) from None
    now = utcnow()
    expires_in = payload.get("expires_in")
    refresh_expires_in = payload.get("refresh_token_expires_in")
    refresh_token = payload.get("refresh_token")
    return TokenGrant(
        access_token=access_token,
        scopes=parse_scopes(str(payload.get("scope", ""))),
        access_expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
        refresh_token=str(refresh_token) if refresh_token else None,
        refresh_expires_at=now + timedelta(seconds=int(refresh_expires_in)) if refresh_expires_in else None,
    )


def parse_scopes(scope: str) -> tuple[str, ...]:
    return tuple(sorted({part.strip() for part in scope.split(",") if part.strip()}))


def _error_for(status: int, shop_domain: str, purpose: Purpose) -> ShopifyError:
    unavailable = shop_status_error(status, shop_domain)
    if unavailable is not None:
        return unavailable
    if purpose == "refresh" and status in (400, 401, 403):
        return ReconnectRequired(f"Shopify no longer accepts our access to {shop_domain}. Please reconnect your store.")
    if status == 400:
        return InstallFailed(
            "Shopify did not accept the install approval: it has expired or was already used. "
            "Please connect your store again.",
            code="code_rejected",
        )
    if status in (401, 403):
        return InstallFailed(
            "Shopify did not recognise this app's credentials. This is a problem on our side; "
            "please try again later or contact support.",
            code="app_credentials",
        )
    return InstallFailed(
        f"Shopify answered unexpectedly (HTTP {status}) while connecting {shop_domain}. Please try again.",
        code="unexpected_response",
    )
