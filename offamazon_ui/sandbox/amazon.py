"""Amazon emulator: Login with Amazon's token endpoint and the SP-API calls that verify a seller.

It speaks the real protocols (shapes from the Sellers API model and observed
LWA / SP-API error bodies) so the live client code runs unchanged against it:
  POST /auth/o2/token                                   LWA refresh-token exchange (form or JSON)
  GET  /spapi/sellers/v1/marketplaceParticipations      getMarketplaceParticipations
  GET  /spapi/listings/2021-08-01/items/{sellerId}      searchListingsItems
  POST /_control                                        fault knobs (sandbox and tests only)
The app backend mounts it at /sandbox/amazon. One base URL serves every region.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SPAPI_PREFIX = "/spapi"
ACCESS_TOKEN_LIFETIME = 3600
PARTICIPATIONS_RATE = (0.016, 15)  # requests per second, burst (Sellers API model)
LISTINGS_RATE = (5.0, 5)

LWA_INVALID_GRANT = {
    "error_description": "The request has an invalid grant parameter : refresh_token. "
    "User may have revoked or didn't grant the permission.",
    "error": "invalid_grant",
}
LWA_INVALID_CLIENT = {"error_description": "Client authentication failed", "error": "invalid_client"}
LWA_UNAUTHORIZED_CLIENT = {
    "error_description": "Not authorized for requested operation",
    "error": "unauthorized_client",
}
LWA_UNSUPPORTED_GRANT_TYPE = {
    "error": "unsupported_grant_type",
    "error_description": "The authorization grant type is not supported by the authorization server",
}
LWA_SERVER_ERROR = {"error": "server_error", "error_description": "The server encountered an internal error"}
LWA_UNAVAILABLE = {"error": "temporarily_unavailable", "error_description": "The service is temporarily unavailable"}

MISSING_TOKEN_ERROR = {"message": "Access to requested resource is denied.", "code": "MissingAuthenticationToken"}
UNAUTHORIZED_ERROR = {
    "code": "Unauthorized",
    "message": "Access to requested resource is denied.",
    "details": "The access token you provided is revoked, malformed or invalid.",
}
QUOTA_EXCEEDED_ERROR = {
    "code": "QuotaExceeded",
    "message": "You exceeded your quota for the requested resource.",
    "details": "",
}
SELLER_MARKETPLACE_MISMATCH_ERROR = {
    "code": "InvalidInput",
    "message": "Invalid 'sellerId' and 'marketplaceId' combination provided.",
    "details": "",
}
SERVER_ERRORS = {
    500: {"code": "InternalFailure", "message": "We encountered an internal error. Please try again.", "details": ""},
    503: {"code": "ServiceUnavailable", "message": "Service temporarily unavailable. Please try again.", "details": ""},
}


@dataclass(frozen=True)
class EmulatedMarketplace:
    id: str
    name: str
    country_code: str
    currency: str
    language: str
    domain_name: str
    is_shadow: bool = False  # the "Non-Amazon" entries real accounts also list; nobody lists products there

    def as_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "countryCode": self.country_code,
            "defaultCurrencyCode": self.currency,
            "defaultLanguageCode": self.language,
            "domainName": self.domain_name,
        }


EMULATED_MARKETPLACES = {
    m.id: m
    for m in (
        EmulatedMarketplace("ATVPDKIKX0DER", "Amazon.com", "US", "USD", "en_US", "www.amazon.com"),
        EmulatedMarketplace("A2EUQ1WTGCTBG2", "Amazon.ca", "CA", "CAD", "en_CA", "www.amazon.ca"),
        EmulatedMarketplace("A1AM78C64UM0Y8", "Amazon.com.mx", "MX", "MXN", "es_MX", "www.amazon.com.mx"),
        EmulatedMarketplace(
            "A2ZV50J4W1RKNI", "Non-Amazon US", "US", "USD", "en_US", "sim1.stores.amazon.com", is_shadow=True
        ),
        EmulatedMarketplace("A1F83G8C2ARO7P", "Amazon.co.uk", "GB", "GBP", "en_GB", "www.amazon.co.uk"),
        EmulatedMarketplace("A1PA6795UKMFR9", "Amazon.de", "DE", "EUR", "de_DE", "www.amazon.de"),
        EmulatedMarketplace("A13V1IB3VIYZZH", "Amazon.fr", "FR", "EUR", "fr_FR", "www.amazon.fr"),
        EmulatedMarketplace("APJ6JRA9NG5V4", "Amazon.it", "IT", "EUR", "it_IT", "www.amazon.it"),
        EmulatedMarketplace("A1RKKUPIHCS9HS", "Amazon.es", "ES", "EUR", "es_ES", "www.amazon.es"),
        EmulatedMarketplace("A1C3SOZRARQ6R3", "Amazon.pl", "PL", "PLN", "pl_PL", "www.amazon.pl"),
        EmulatedMarketplace("A1VC38T7YXB528", "Amazon.co.jp", "JP", "JPY", "ja_JP", "www.amazon.co.jp"),
        EmulatedMarketplace("A39IBJ37TRP1C6", "Amazon.com.au", "AU", "AUD", "en_AU", "www.amazon.com.au"),
    )
}


@dataclass(frozen=True)
class DemoParticipation:
    marketplace_id: str
    store_name: str
    is_participating: bool = True
    has_suspended_listings: bool = False


@dataclass(frozen=True)
class DemoSeller:
    seller_id: str
    refresh_token: str = field(repr=False)
    participations: tuple[DemoParticipation, ...]
    skus: tuple[str, ...] = ()
    client_id: str | None = None  # the LWA app the token was issued to; None = the emulator's own app
    # Endpoints ("sellers", "listings") whose role the seller did not grant: they answer 403 Unauthorized,
    # as Amazon does for a missing role or a token used in another region.
    denied_endpoints: frozenset[str] = frozenset()


def _demo_refresh_token(name: str) -> str:
    # Stable across restarts so DEMO_CREDENTIALS can be a constant; only this emulator accepts them.
    return "Atzr|IwEBI" + hashlib.sha256(f"offamazon-demo-{name}".encode()).hexdigest() * 3


DEMO_SELLERS: tuple[DemoSeller, ...] = (
    DemoSeller(
        seller_id="A2DEMOOUTFITNA",
        refresh_token=_demo_refresh_token("na"),
        participations=(
            DemoParticipation("ATVPDKIKX0DER", "Demo Outfitters US"),
            DemoParticipation("A2EUQ1WTGCTBG2", "Demo Outfitters Canada"),
            DemoParticipation("A1AM78C64UM0Y8", "Demo Outfitters Mexico", is_participating=False),
            DemoParticipation("A2ZV50J4W1RKNI", "Demo Outfitters US"),
        ),
        skus=("DEMO-TEE-001", "DEMO-HOODIE-002", "DEMO-CAP-003"),
    ),
    DemoSeller(
        seller_id="A3DEMOOUTFITEU",
        refresh_token=_demo_refresh_token("eu"),
        participations=(
            DemoParticipation("A1F83G8C2ARO7P", "Demo Outfitters UK"),
            DemoParticipation("A1PA6795UKMFR9", "Demo Outfitters Deutschland"),
            DemoParticipation("A13V1IB3VIYZZH", "Demo Outfitters France"),
            DemoParticipation("APJ6JRA9NG5V4", "Demo Outfitters Italia"),
            DemoParticipation("A1RKKUPIHCS9HS", "Demo Outfitters España"),
            DemoParticipation("A1C3SOZRARQ6R3", "Demo Outfitters Polska", is_participating=False),
        ),
        skus=("DEMO-EU-TEE-001", "DEMO-EU-JACKET-002"),
    ),
    DemoSeller(
        seller_id="A1DEMOOUTFITFE",
        refresh_token=_demo_refresh_token("fe"),
        participations=(
            DemoParticipation("A1VC38T7YXB528", "Demo Outfitters Japan"),
            DemoParticipation("A39IBJ37TRP1C6", "Demo Outfitters Australia"),
        ),
        skus=("DEMO-FE-TEE-001",),
    ),
)

# For the sandbox-only "Use demo credentials" button: marketplace ID -> {"seller_id", "refresh_token"}.
DEMO_CREDENTIALS: dict[str, dict[str, str]] = {
    participation.marketplace_id: {"seller_id": seller.seller_id, "refresh_token": seller.refresh_token}
    for seller in DEMO_SELLERS
    for participation in seller.participations
    if participation.is_participating and not EMULATED_MARKETPLACES[participation.marketplace_id].is_shadow
}


@dataclass
class _IssuedToken:
    seller: DemoSeller
    client_id: str
    refresh_token: str = field(repr=False)
    expires_at: float


@dataclass
class _TokenBucket:
    rate: float
    burst: int
    tokens: float
    updated_at: float

    def take(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated_at) * self.rate)
        self.updated_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _Fault:
    kind: str  # "status" | "throttle" | "delay" | "garble"
    scope: str  # one of SCOPES
    remaining: int
    status: int = 503
    seconds: float = 0.0


@dataclass(frozen=True)
class EmulatorCall:
    method: str
    path: str
    status: int


# A fault aimed at a scope hits the next requests to any endpoint in it.
ENDPOINT_SCOPES = {
    "lwa": ("all", "lwa"),
    "sellers": ("all", "spapi", "sellers"),
    "listings": ("all", "spapi", "listings"),
}
SCOPES = ("all", "lwa", "spapi", "sellers", "listings")
SPAPI_SCOPES = ("spapi", "sellers", "listings")
GARBLED_BODY = "<html><body><h1>Gateway maintenance</h1></body></html>"


class AmazonEmulator:
    """State and fault knobs; `app` is the Starlette application."""

    def __init__(
        self,
        lwa_client_id: str,
        lwa_client_secret: str,
        *,
        sellers: tuple[DemoSeller, ...] = DEMO_SELLERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lwa_client_id = lwa_client_id
        self._lwa_client_secret = lwa_client_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._sellers = {seller.refresh_token: seller for seller in sellers}
        self._revoked: set[str] = set()
        self._access_tokens: dict[str, _IssuedToken] = {}
        self._buckets: dict[tuple[str, str, str], _TokenBucket] = {}
        self._faults: list[_Fault] = []
        self.calls: list[EmulatorCall] = []
        self.app = Starlette(
            routes=[
                Route("/auth/o2/token", self._token, methods=["POST"]),
                Route(f"{SPAPI_PREFIX}/sellers/v1/marketplaceParticipations", self._participations, methods=["GET"]),
                Route(f"{SPAPI_PREFIX}/listings/2021-08-01/items/{{seller_id}}", self._listings, methods=["GET"]),
                Route("/_control", self._control, methods=["POST"]),
            ]
        )
        self.app.state.emulator = self

    # ---- fault knobs (Python handle; the same actions are reachable through POST /_control)

    def fail_next(self, count: int, status: int = 503, scope: str = "all") -> None:
        """The next `count` matching requests answer `status` (a 5xx) in the endpoint's error shape."""
        self._add_fault(_Fault("status", scope, count, status=status))

    def throttle_next(self, count: int, scope: str = "spapi") -> None:
        """The next `count` SP-API requests answer 429 QuotaExceeded, whatever the token bucket says."""
        if scope not in SPAPI_SCOPES:
            raise ValueError(f"throttle scope must be one of {SPAPI_SCOPES}")
        self._add_fault(_Fault("throttle", scope, count))

    def delay_next(self, count: int, seconds: float, scope: str = "all") -> None:
        """The next `count` matching requests answer only after `seconds` (to provoke client timeouts)."""
        self._add_fault(_Fault("delay", scope, count, seconds=seconds))

    def garble_next(self, count: int, scope: str = "all") -> None:
        """The next `count` matching requests answer 200 with an HTML page instead of JSON (a broken proxy)."""
        self._add_fault(_Fault("garble", scope, count))

    def revoke(self, refresh_token: str) -> None:
        """As if the seller removed the app: the refresh token and its access tokens stop working."""
        with self._lock:
            self._revoked.add(refresh_token)
            for token, issued in list(self._access_tokens.items()):
                if issued.refresh_token == refresh_token:
                    del self._access_tokens[token]

    def expire_access_tokens(self) -> None:
        with self._lock:
            for issued in self._access_tokens.values():
                issued.expires_at = self._clock()

    def add_seller(self, seller: DemoSeller) -> None:
        with self._lock:
            self._sellers[seller.refresh_token] = seller

    def reset(self) -> None:
        with self._lock:
            self._revoked.clear()
            self._access_tokens.clear()
            self._buckets.clear()
            self._faults.clear()
            self.calls.clear()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        if fault.kind == "status" and not 500 <= fault.status <= 599:
            raise ValueError("fail_next status must be a 5xx")
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, endpoint: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.scope in ENDPOINT_SCOPES[endpoint]:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # ---- Login with Amazon

    async def _token(self, request: Request) -> Response:
        fault = await self._apply_fault("lwa")
        if fault is not None and fault.kind == "garble":
            return self._garbled(request)
        if fault is not None:
            return self._lwa_response(
                request, fault.status, LWA_UNAVAILABLE if fault.status == 503 else LWA_SERVER_ERROR
            )
        params = await _lwa_params(request)
        grant_type = params.get("grant_type", "")
        if not grant_type:
            return self._lwa_response(request, 400, _missing_parameter("grant_type"))
        if grant_type != "refresh_token":
            return self._lwa_response(request, 400, LWA_UNSUPPORTED_GRANT_TYPE)
        for name in ("refresh_token", "client_id", "client_secret"):
            if not params.get(name):
                return self._lwa_response(request, 400, _missing_parameter(name))
        client_id, client_secret = params["client_id"], params["client_secret"]
        if client_id != self.lwa_client_id or not hmac.compare_digest(
            client_secret.encode(), self._lwa_client_secret.encode()
        ):
            return self._lwa_response(request, 401, LWA_INVALID_CLIENT)

        refresh_token = params["refresh_token"]
        with self._lock:
            seller = None if refresh_token in self._revoked else self._sellers.get(refresh_token)
        if seller is None:
            return self._lwa_response(request, 400, LWA_INVALID_GRANT)
        if (seller.client_id or self.lwa_client_id) != client_id:
            return self._lwa_response(request, 400, LWA_UNAUTHORIZED_CLIENT)

        access_token = "Atza|" + secrets.token_urlsafe(300)
        with self._lock:
            self._access_tokens[access_token] = _IssuedToken(
                seller=seller,
                client_id=client_id,
                refresh_token=refresh_token,
                expires_at=self._clock() + ACCESS_TOKEN_LIFETIME,
            )
        body: dict[str, Any] = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
        }
        return self._lwa_response(request, 200, body)

    def _lwa_response(self, request: Request, status: int, body: dict[str, Any]) -> Response:
        request_id = str(uuid.uuid4())
        if status != 200:
            body = {**body, "error_index": secrets.token_urlsafe(16), "request_id": request_id}
        response = Response(
            json.dumps(body),
            status_code=status,
            media_type="application/json;charset=UTF-8",
            headers={"Cache-Control": "no-store", "Pragma": "no-cache", "x-amzn-RequestId": request_id},
        )
        self._record(request, status)
        return response

    # ---- Selling Partner API

    async def _participations(self, request: Request) -> Response:
        denied = await self._spapi_gate(request, "sellers", PARTICIPATIONS_RATE)
        if isinstance(denied, Response):
            return denied
        issued = denied
        payload = [
            {
                "marketplace": EMULATED_MARKETPLACES[p.marketplace_id].as_json(),
                "participation": {
                    "isParticipating": p.is_participating,
                    "hasSuspendedListings": p.has_suspended_listings,
                },
                "storeName": p.store_name,
            }
            for p in issued.seller.participations
        ]
        return self._spapi_response(request, 200, {"payload": payload}, rate=PARTICIPATIONS_RATE[0])

    async def _listings(self, request: Request) -> Response:
        denied = await self._spapi_gate(request, "listings", LISTINGS_RATE)
        if isinstance(denied, Response):
            return denied
        seller = denied.seller
        rate = LISTINGS_RATE[0]
        marketplace_ids = [m for m in request.query_params.get("marketplaceIds", "").split(",") if m]
        if not marketplace_ids:
            return self._spapi_error(request, 400, _invalid_input("Missing required parameter 'marketplaceIds'."), rate)
        page_size = request.query_params.get("pageSize", "10")
        if not page_size.isdigit() or not 1 <= int(page_size) <= 20:
            return self._spapi_error(request, 400, _invalid_input("'pageSize' must be between 1 and 20."), rate)

        seller_id = request.path_params["seller_id"]
        if seller_id != seller.seller_id:
            with self._lock:
                known = any(other.seller_id == seller_id for other in self._sellers.values())
            if known:
                # Another existing seller's ID: the token grants no access to that seller's listings.
                return self._spapi_error(request, 403, UNAUTHORIZED_ERROR, None)
            return self._spapi_error(request, 400, SELLER_MARKETPLACE_MISMATCH_ERROR, rate)
        selling = {p.marketplace_id for p in seller.participations if p.is_participating}
        if not set(marketplace_ids) <= selling:
            return self._spapi_error(request, 400, SELLER_MARKETPLACE_MISMATCH_ERROR, rate)

        items = [_listing_item(sku, marketplace_ids[0]) for sku in seller.skus]
        body = {"numberOfResults": len(items), "items": items[: int(page_size)]}
        return self._spapi_response(request, 200, body, rate=rate)

    async def _spapi_gate(self, request: Request, endpoint: str, limits: tuple[float, int]) -> _IssuedToken | Response:
        """Faults, authentication and throttling shared by every SP-API operation."""
        rate, burst = limits
        fault = await self._apply_fault(endpoint)
        if fault is not None and fault.kind == "garble":
            return self._garbled(request)
        if fault is not None and fault.kind == "throttle":
            return self._spapi_error(request, 429, QUOTA_EXCEEDED_ERROR, rate)
        if fault is not None:
            return self._spapi_error(request, fault.status, SERVER_ERRORS.get(fault.status, SERVER_ERRORS[500]), None)

        token = request.headers.get("x-amz-access-token", "")
        if not token:
            return self._spapi_error(
                request, 403, MISSING_TOKEN_ERROR, None, error_type="MissingAuthenticationTokenException"
            )
        now = self._clock()
        with self._lock:
            issued = self._access_tokens.get(token)
            if issued is not None and issued.expires_at <= now:
                issued = None
            key = (issued.seller.seller_id, issued.client_id, endpoint) if issued else None
            allowed = True
            if key is not None:
                bucket = self._buckets.setdefault(key, _TokenBucket(rate, burst, float(burst), now))
                allowed = bucket.take(now)
        if issued is None or endpoint in issued.seller.denied_endpoints:
            return self._spapi_error(request, 403, UNAUTHORIZED_ERROR, None, error_type="AccessDeniedException")
        if not allowed:
            return self._spapi_error(request, 429, QUOTA_EXCEEDED_ERROR, rate)
        return issued

    def _spapi_error(
        self,
        request: Request,
        status: int,
        error: dict[str, str],
        rate: float | None,
        *,
        error_type: str | None = None,
    ) -> Response:
        headers = {"x-amzn-ErrorType": error_type} if error_type else {}
        return self._spapi_response(request, status, {"errors": [error]}, rate=rate, headers=headers)

    def _spapi_response(
        self,
        request: Request,
        status: int,
        body: dict[str, Any],
        *,
        rate: float | None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}
        if rate is not None:
            all_headers["x-amzn-RateLimit-Limit"] = f"{rate:g}"
        self._record(request, status)
        return JSONResponse(body, status_code=status, headers=all_headers)

    # ---- shared

    async def _apply_fault(self, endpoint: str) -> _Fault | None:
        """Sleep through a delay fault; return any other fault, which replaces the answer."""
        fault = self._take_fault(endpoint)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        return fault

    def _garbled(self, request: Request) -> Response:
        self._record(request, 200)
        return Response(GARBLED_BODY, media_type="text/html", headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def _record(self, request: Request, status: int) -> None:
        with self._lock:
            self.calls.append(EmulatorCall(request.method, request.url.path, status))

    async def _control(self, request: Request) -> Response:
        try:
            command = await request.json()
            action = command["action"]
            if action == "fail":
                self.fail_next(
                    int(command.get("count", 1)), int(command.get("status", 503)), command.get("scope", "all")
                )
            elif action == "throttle":
                self.throttle_next(int(command.get("count", 1)), command.get("scope", "spapi"))
            elif action == "garble":
                self.garble_next(int(command.get("count", 1)), command.get("scope", "all"))
            elif action == "delay":
                self.delay_next(int(command.get("count", 1)), float(command["seconds"]), command.get("scope", "all"))
            elif action == "revoke":
                self.revoke(str(command["refresh_token"]))
            elif action == "expire_access_tokens":
                self.expire_access_tokens()
            elif action == "reset":
                self.reset()
            else:
                raise ValueError(f"unknown action {action!r}")
        except (ValueError, KeyError, TypeError) as error:
            return JSONResponse({"ok": False, "error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})


def build_amazon_emulator(
    lwa_client_id: str, lwa_client_secret: str, *, clock: Callable[[], float] = time.monotonic
) -> Starlette:
    """The emulator app; its AmazonEmulator handle (fault knobs) is `app.state.emulator`."""
    return AmazonEmulator(lwa_client_id, lwa_client_secret, clock=clock).app


async def _lwa_params(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            return {}
        return {key: value for key, value in body.items() if isinstance(value, str)} if isinstance(body, dict) else {}
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _missing_parameter(name: str) -> dict[str, str]:
    return {"error_description": f"The request is missing a required parameter : {name}", "error": "invalid_request"}


def _invalid_input(message: str) -> dict[str, str]:
    return {"code": "InvalidInput", "message": message, "details": ""}


def _listing_item(sku: str, marketplace_id: str) -> dict[str, Any]:
    asin = "B0" + hashlib.sha256(sku.encode()).hexdigest()[:8].upper()
    return {
        "sku": sku,
        "summaries": [
            {
                "marketplaceId": marketplace_id,
                "asin": asin,
                "productType": "SHIRT",
                "conditionType": "new_new",
                "status": ["BUYABLE", "DISCOVERABLE"],
                "itemName": sku.replace("-", " ").title(),
                "createdDate": "2024-01-15T10:00:00Z",
                "lastUpdatedDate": "2024-06-01T12:00:00Z",
            }
        ],
    }
