"""The two Selling Partner API calls that prove a token, marketplace and seller belong together.

Only the LWA access token is sent (x-amz-access-token): SP-API has ignored AWS
Signature Version 4 since October 2023.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from offamazon_ui.services.amazon.marketplaces import Marketplace
from offamazon_ui.services.amazon.problems import (
    AmazonCheckFailed,
    region_denied,
    seller_mismatch,
    throttled,
    unavailable,
    unexpected_response,
)
from offamazon_ui.services.amazon.retry import RetryPolicy, request_id, send, throttle_wait

log = logging.getLogger(__name__)

USER_AGENT = "OffAmazonSelection/1.0 (Language=Python)"
PARTICIPATIONS_PATH = "/sellers/v1/marketplaceParticipations"
LISTINGS_PATH = "/listings/2021-08-01/items/{seller_id}"


@dataclass(frozen=True)
class SpApiError:
    code: str
    message: str
    details: str


@dataclass(frozen=True)
class Participation:
    marketplace_id: str
    store_name: str
    is_participating: bool
    has_suspended_listings: bool


def parse_errors(response: httpx.Response) -> list[SpApiError]:
    """The {"errors":[{"code","message","details"}]} list; empty when the body has another shape."""
    try:
        body = response.json()
    except ValueError:
        return []
    items = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return []
    return [
        SpApiError(code=_text(item.get("code")), message=_text(item.get("message")), details=_text(item.get("details")))
        for item in items
        if isinstance(item, dict)
    ]


def parse_participations(body: Any) -> list[Participation] | None:
    """Entries with a marketplace ID; None when the payload is not a list."""
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, list):
        return None
    participations = []
    for entry in payload:
        if not isinstance(entry, dict):
            continue
        marketplace = entry.get("marketplace")
        participation = entry.get("participation")
        marketplace_id = marketplace.get("id") if isinstance(marketplace, dict) else None
        if not isinstance(marketplace_id, str):
            continue
        flags = participation if isinstance(participation, dict) else {}
        participations.append(
            Participation(
                marketplace_id=marketplace_id,
                store_name=_text(entry.get("storeName")),
                is_participating=flags.get("isParticipating") is True,
                has_suspended_listings=flags.get("hasSuspendedListings") is True,
            )
        )
    return participations


async def get_marketplace_participations(
    client: httpx.AsyncClient, base_url: str, access_token: str, marketplace: Marketplace, *, policy: RetryPolicy
) -> list[Participation]:
    response = await send(
        client,
        "GET",
        base_url + PARTICIPATIONS_PATH,
        policy=policy,
        what="getMarketplaceParticipations",
        headers=_headers(access_token),
    )
    if response.status_code == 200:
        try:
            participations = parse_participations(response.json())
        except ValueError:
            participations = None
        if participations is None:
            log.error("getMarketplaceParticipations answered 200 without a payload list (%s)", request_id(response))
            raise AmazonCheckFailed(unexpected_response())
        return participations
    errors = _raise_common(response, "getMarketplaceParticipations")
    if response.status_code == 403:
        # A fresh token refused here means the token's region or roles do not cover this endpoint.
        raise AmazonCheckFailed(region_denied(marketplace))
    _log_unexpected(response, "getMarketplaceParticipations", errors)
    raise AmazonCheckFailed(unexpected_response())


async def check_seller(
    client: httpx.AsyncClient,
    base_url: str,
    access_token: str,
    seller_id: str,
    marketplace_id: str,
    *,
    policy: RetryPolicy,
) -> None:
    """searchListingsItems for the seller: Amazon only lists items of the seller the token belongs to."""
    response = await send(
        client,
        "GET",
        base_url + LISTINGS_PATH.format(seller_id=quote(seller_id, safe="")),
        policy=policy,
        what="searchListingsItems",
        params={"marketplaceIds": marketplace_id, "pageSize": "1"},
        headers=_headers(access_token),
    )
    if response.status_code == 200:
        return
    errors = _raise_common(response, "searchListingsItems")
    if response.status_code in (400, 403, 404):
        log.info(
            "searchListingsItems rejected the seller ID: %d %s (%s)",
            response.status_code,
            [error.code for error in errors],
            request_id(response),
        )
        raise AmazonCheckFailed(seller_mismatch())
    _log_unexpected(response, "searchListingsItems", errors)
    raise AmazonCheckFailed(unexpected_response())


def _raise_common(response: httpx.Response, what: str) -> list[SpApiError]:
    """Raise for answers every operation treats alike; return the parsed errors otherwise."""
    errors = parse_errors(response)
    if response.status_code == 429:
        raise AmazonCheckFailed(throttled(throttle_wait(response)))
    if response.status_code >= 500:
        raise AmazonCheckFailed(unavailable())
    if any(error.code == "MissingAuthenticationToken" for error in errors):
        log.error("%s: Amazon says our request carried no access token (%s)", what, request_id(response))
        raise AmazonCheckFailed(unexpected_response())
    return errors


def _log_unexpected(response: httpx.Response, what: str, errors: list[SpApiError]) -> None:
    log.error(
        "%s answered %d %s (%s)",
        what,
        response.status_code,
        [(error.code, error.message) for error in errors],
        request_id(response),
    )


def _headers(access_token: str) -> dict[str, str]:
    return {"x-amz-access-token": access_token, "user-agent": USER_AGENT, "accept": "application/json"}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
