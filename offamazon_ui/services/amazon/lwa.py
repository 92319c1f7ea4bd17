"""Login with Amazon: trade a seller's refresh token for a one-hour access token.

Access tokens live only in this process's memory, keyed by a hash of the app
and refresh token, and are dropped a minute before Amazon expires them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from offamazon_ui.config import Settings
from offamazon_ui.services.amazon.problems import (
    AmazonCheckFailed,
    app_credentials_rejected,
    refresh_token_rejected,
    throttled,
    unavailable,
    unexpected_response,
)
from offamazon_ui.services.amazon.retry import RetryPolicy, send, throttle_wait

log = logging.getLogger(__name__)

EXPIRY_MARGIN_SECONDS = 60
MAX_CACHED_TOKENS = 1000
ACCESS_TOKEN_PREFIX = "Atza|"  # noqa: S105  a format marker, not a secret


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # time.monotonic() seconds

    def is_fresh(self, now: float) -> bool:
        return now < self.expires_at


_cache: dict[str, AccessToken] = {}
_cache_lock = threading.Lock()


def _cache_key(client_id: str, refresh_token: str) -> str:
    return hashlib.sha256(f"{client_id}\x00{refresh_token}".encode()).hexdigest()


def cached_access_token(client_id: str, refresh_token: str) -> AccessToken | None:
    with _cache_lock:
        token = _cache.get(_cache_key(client_id, refresh_token))
    return token if token is not None and token.is_fresh(time.monotonic()) else None


def forget_access_token(client_id: str, refresh_token: str) -> None:
    """Drop a cached token, e.g. after Amazon answered 403 Unauthorized to it."""
    with _cache_lock:
        _cache.pop(_cache_key(client_id, refresh_token), None)


def _remember(client_id: str, refresh_token: str, token: AccessToken) -> None:
    now = time.monotonic()
    with _cache_lock:
        if len(_cache) >= MAX_CACHED_TOKENS:
            for key in [key for key, cached in _cache.items() if not cached.is_fresh(now)]:
                del _cache[key]
            if len(_cache) >= MAX_CACHED_TOKENS:
                del _cache[min(_cache, key=lambda key: _cache[key].expires_at)]
        _cache[_cache_key(client_id, refresh_token)] = token


async def get_access_token(
    client: httpx.AsyncClient,
    settings: Settings,
    refresh_token: str,
    *,
    policy: RetryPolicy,
    fresh: bool = False,
) -> AccessToken:
    """A cached token, or a new one from LWA (always new when `fresh`, which proves the refresh token still works)."""
    if not fresh:
        cached = cached_access_token(settings.lwa_client_id, refresh_token)
        if cached is not None:
            return cached
    token = await _exchange(client, settings, refresh_token, policy)
    _remember(settings.lwa_client_id, refresh_token, token)
    return token


async def _exchange(
    client: httpx.AsyncClient, settings: Settings, refresh_token: str, policy: RetryPolicy
) -> AccessToken:
    response = await send(
        client,
        "POST",
        settings.lwa_token_url,
        policy=policy,
        what="LWA token exchange",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": settings.lwa_client_id,
            "client_secret": settings.lwa_client_secret,
        },
        headers={"Accept": "application/json"},
    )
    body = _json_object(response)
    if response.status_code == 200:
        return _access_token_from(body)

    error = str(body.get("error", "")) if body else ""
    if response.status_code == 429:
        raise AmazonCheckFailed(throttled(throttle_wait(response)))
    if response.status_code >= 500 or error in ("server_error", "temporarily_unavailable"):
        raise AmazonCheckFailed(unavailable())
    if error in ("invalid_grant", "invalid_request"):
        raise AmazonCheckFailed(refresh_token_rejected())
    if error in ("invalid_client", "unauthorized_client") or response.status_code == 401:
        # Operators must act (wrong or expired LWA client secret; rotate every 180 days).
        log.error(
            "LWA rejected our app credentials: status %d, error %r, client_id %s. "
            "Check AMAZON_LWA_CLIENT_ID / AMAZON_LWA_CLIENT_SECRET.",
            response.status_code,
            error or None,
            settings.lwa_client_id,
        )
        raise AmazonCheckFailed(app_credentials_rejected())
    log.error("LWA token exchange answered %d with error %r", response.status_code, error or None)
    raise AmazonCheckFailed(unexpected_response())


def _access_token_from(body: dict[str, Any] | None) -> AccessToken:
    value = body.get("access_token") if body else None
    expires_in = body.get("expires_in", 3600) if body else None
    if not isinstance(value, str) or not value.startswith(ACCESS_TOKEN_PREFIX):
        log.error("LWA token exchange answered 200 without a usable access_token")
        raise AmazonCheckFailed(unexpected_response())
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = 3600
    lifetime = max(0.0, float(expires_in) - EXPIRY_MARGIN_SECONDS)
    return AccessToken(value=value, expires_at=time.monotonic() + lifetime)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
