"""Everything the Shopify emulator remembers, plus the knobs tests turn.

One ShopifyEmulator holds the shops (catalog, leaky bucket, fault queue,
bulk operations), the OAuth codes and tokens it issued, and a log of requests
(route, shop, status — never bodies or secrets) that tests inspect, e.g. to
prove that no token request was made. State is in memory and guarded for the
one process it runs in.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import GraphQLSchema

from offamazon_ui.sandbox.shopify.bulk import BulkJob, check_bulk_query
from offamazon_ui.sandbox.shopify.catalog import Catalog, demo_large, demo_small
from offamazon_ui.sandbox.shopify.cost import LeakyBucket
from offamazon_ui.sandbox.shopify.schema import QueryContext, admin_schema
from offamazon_ui.sandbox.shopify.webhooks import TOPICS, WebhookSender, WebhookSubscriptionRecord

CODE_LIFETIME = 60.0
ACCESS_TOKEN_LIFETIME = 3600
REFRESH_TOKEN_LIFETIME = 90 * 86400
ROUTES = ("authorize", "access_token", "graphql", "bulk_download")
FAULT_KINDS = ("status", "drop", "delay")
BULK_OUTCOMES = ("complete", "fail", "hang")

OPEN_SIGNUP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}\.myshopify\.com$")


@dataclass
class Fault:
    """Applied to the next `remaining` requests of `route`: answer `status`, drop the connection, or delay."""

    route: str
    kind: str = "status"
    status: int = 503
    seconds: float = 0.0
    after_bytes: int = 0
    remaining: int = 1


@dataclass
class EmulatedShop:
    domain: str
    name: str
    catalog: Catalog
    numeric_id: int
    bucket: LeakyBucket
    currency: str = "USD"
    frozen: bool = False
    locked: bool = False
    latency: float = 0.0
    bulk_outcome: str = "complete"
    bulk_delay: float = 0.05
    scopes_granted: tuple[str, ...] | None = None
    faults: list[Fault] = field(default_factory=list)
    bulk_jobs: list[BulkJob] = field(default_factory=list)
    webhook_subscriptions: list[WebhookSubscriptionRecord] = field(default_factory=list)


@dataclass(frozen=True)
class RecordedRequest:
    route: str
    shop: str
    method: str
    status: int
    outcome: str


@dataclass
class _Code:
    shop: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass
class _AccessToken:
    shop: str
    scopes: tuple[str, ...]
    expires_at: float | None
    revoked: bool = False


@dataclass
class _RefreshToken:
    shop: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False
    successor: str | None = None


class ShopifyEmulator:
    def __init__(
        self,
        api_key: str,
        api_secret: str,
        allowed_redirect_uris: list[str] | tuple[str, ...],
        scopes_granted: tuple[str, ...] | list[str] | None = None,
        *,
        app_name: str = "Off-Amazon Selection",
        bucket_maximum: float = 2000.0,
        restore_rate: float = 100.0,
        demo_shops: bool = True,
        open_signup: bool = False,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.allowed_redirect_uris = tuple(allowed_redirect_uris)
        self.scopes_granted = tuple(scopes_granted) if scopes_granted is not None else None
        self.app_name = app_name
        self.bucket_maximum = bucket_maximum
        self.restore_rate = restore_rate
        self.clock_offset = 0.0
        self.schema: GraphQLSchema = admin_schema()
        self._lock = threading.RLock()
        self._files = tempfile.TemporaryDirectory(prefix="shopify-emulator-")
        self._demo_shops = demo_shops
        self._open_signup = open_signup
        self.webhooks = WebhookSender(api_secret)
        self.reset()

    # --- setup and knobs ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every shop change, token, fault, bulk operation and logged request."""
        with self._lock:
            for shop in getattr(self, "shops", {}).values():
                for job in shop.bulk_jobs:
                    job.cancel()
            self.shops: dict[str, EmulatedShop] = {}
            self._codes: dict[str, _Code] = {}
            self._access_tokens: dict[str, _AccessToken] = {}
            self._refresh_tokens: dict[str, _RefreshToken] = {}
            self._requests: list[RecordedRequest] = []
            self._bulk_numbers = 0
            self._webhook_subscription_numbers = 0
            self.clock_offset = 0.0
            self.webhooks.cancel()
            if self._demo_shops:
                self.add_shop("demo-small.myshopify.com", "Demo Small Shop", demo_small())
                self.add_shop("demo-large.myshopify.com", "Demo Large Shop", demo_large())

    def close(self) -> None:
        """Stop background bulk operations and delete their files."""
        with self._lock:
            for shop in self.shops.values():
                for job in shop.bulk_jobs:
                    job.cancel()
        self._files.cleanup()

    def now(self) -> float:
        return time.time() + self.clock_offset

    def add_shop(
        self,
        domain: str,
        name: str,
        catalog: Catalog | None = None,
        *,
        product_count: int = 10,
        variants_per_product: int | None = None,
        seed: str | None = None,
    ) -> EmulatedShop:
        with self._lock:
            catalog = catalog or Catalog(seed or domain, product_count, variants_per_product)
            shop = EmulatedShop(
                domain=domain,
                name=name,
                catalog=catalog,
                numeric_id=60_000_000 + len(self.shops) + 1,
                bucket=LeakyBucket(self.bucket_maximum, self.restore_rate),
            )
            self.shops[domain] = shop
            return shop

    def shop(self, domain: str) -> EmulatedShop | None:
        """With open signup, any well-formed domain is a shop, so every demo merchant can have their own."""
        shop = self.shops.get(domain)
        if shop is None and self._open_signup and OPEN_SIGNUP_DOMAIN.match(domain):
            handle = domain.removesuffix(".myshopify.com")
            shop = self.add_shop(domain, f"{handle.replace('-', ' ').title()} (sandbox)", product_count=40)
        return shop

    def _shop(self, domain: str) -> EmulatedShop:
        shop = self.shop(domain)
        if shop is None:
            raise KeyError(f"unknown emulated shop {domain!r}")
        return shop

    def configure_shop(self, domain: str, **changes: Any) -> EmulatedShop:
        """Set frozen, locked, latency, bulk_outcome, bulk_delay, scopes_granted, bucket_maximum, restore_rate."""
        shop = self._shop(domain)
        with self._lock:
            if "bucket_maximum" in changes or "restore_rate" in changes:
                shop.bucket.configure(changes.pop("bucket_maximum", None), changes.pop("restore_rate", None))
            if changes.get("bulk_outcome", "complete") not in BULK_OUTCOMES:
                raise ValueError(f"bulk_outcome must be one of {BULK_OUTCOMES}")
            if changes.get("scopes_granted") is not None:
                changes["scopes_granted"] = tuple(changes["scopes_granted"])
            for name, value in changes.items():
                if name not in ("frozen", "locked", "latency", "bulk_outcome", "bulk_delay", "scopes_granted"):
                    raise ValueError(f"unknown shop setting {name!r}")
                setattr(shop, name, value)
        return shop

    def inject_fault(
        self,
        domain: str,
        route: str,
        kind: str = "status",
        *,
        status: int = 503,
        times: int = 1,
        seconds: float = 0.0,
        after_bytes: int = 0,
    ) -> None:
        if route not in ROUTES or kind not in FAULT_KINDS:
            raise ValueError(f"route must be one of {ROUTES} and kind one of {FAULT_KINDS}")
        with self._lock:
            fault = Fault(route, kind, status, seconds, after_bytes, times)
            self._shop(domain).faults.append(fault)

    def take_fault(self, shop: EmulatedShop, route: str) -> Fault | None:
        with self._lock:
            for fault in shop.faults:
                if fault.route == route and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        shop.faults.remove(fault)
                    return fault
        return None

    def drain_bucket(self, domain: str, hold_seconds: float = 0.0) -> None:
        """Empty the shop's cost bucket; with hold_seconds, keep it empty that long (a throttling storm)."""
        self._shop(domain).bucket.drain(hold_seconds)

    def revoke_access_tokens(self, domain: str) -> None:
        """Like an uninstall or a revoked token: every access token of the shop answers 401."""
        with self._lock:
            for token in self._access_tokens.values():
                if token.shop == domain:
                    token.revoked = True

    def create_webhook_subscription(
        self, shop: EmulatedShop, topic: str, callback_url: str, format: str
    ) -> tuple[WebhookSubscriptionRecord | None, list[dict[str, Any]]]:
        """Subscribe `callback_url` to `topic` (enum value), refusing what Shopify refuses."""
        if not callback_url.startswith(("https://", "http://")):
            return None, [{"field": ["webhookSubscription", "callbackUrl"], "message": "Address is invalid"}]
        if topic not in TOPICS or format != "JSON":
            return None, [{"field": ["webhookSubscription", "format"], "message": "Format must be JSON"}]
        with self._lock:
            for existing in shop.webhook_subscriptions:
                if existing.topic == topic and existing.callback_url == callback_url:
                    message = "Address for this topic has already been taken"
                    return None, [{"field": ["webhookSubscription", "callbackUrl"], "message": message}]
            self._webhook_subscription_numbers += 1
            record = WebhookSubscriptionRecord(
                numeric_id=1_000_000 + self._webhook_subscription_numbers,
                topic=topic,
                callback_url=callback_url,
                format=format,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now())),
            )
            shop.webhook_subscriptions.append(record)
            return record, []

    def revoke_refresh_tokens(self, domain: str) -> None:
        with self._lock:
            for token in self._refresh_tokens.values():
                if token.shop == domain:
                    token.expires_at = 0

    # --- request log ----------------------------------------------------------------------------

    def record(self, route: str, shop: str, method: str, status: int, outcome: str = "ok") -> None:
        with self._lock:
            self._requests.append(RecordedRequest(route, shop, method, status, outcome))

    def requests(self, route: str | None = None, shop: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [
                r for r in self._requests if (route is None or r.route == route) and (shop is None or r.shop == shop)
            ]

    # --- OAuth ------------------------------------------------------------------------------------

    def granted_scopes(self, shop: EmulatedShop, requested: tuple[str, ...]) -> tuple[str, ...]:
        return shop.scopes_granted or self.scopes_granted or requested

    def issue_code(self, shop: EmulatedShop, client_id: str, scopes: tuple[str, ...]) -> str:
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = _Code(shop.domain, client_id, scopes, self.now() + CODE_LIFETIME)
        return code

    def redeem_code(self, shop: EmulatedShop, code: str, expiring: bool) -> dict[str, Any] | None:
        with self._lock:
            entry = self._codes.get(code)
            if entry is None or entry.used or entry.shop != shop.domain or entry.expires_at < self.now():
                return None
            entry.used = True
            return self._grant(shop.domain, entry.scopes, expiring)

    def redeem_refresh_token(self, shop: EmulatedShop, refresh_token: str) -> dict[str, Any] | None:
        """Rotate: the old refresh token stays usable until its successor is first used (Shopify, Aug 2026)."""
        with self._lock:
            entry = self._refresh_tokens.get(refresh_token)
            if entry is None or entry.shop != shop.domain or entry.expires_at < self.now():
                return None
            successor = self._refresh_tokens.get(entry.successor) if entry.successor else None
            if successor is not None and successor.used:
                return None
            entry.used = True
            grant = self._grant(shop.domain, entry.scopes, expiring=True)
            entry.successor = grant["refresh_token"]
            return grant

    def _grant(self, shop: str, scopes: tuple[str, ...], expiring: bool) -> dict[str, Any]:
        access_token = "shpat_" + secrets.token_hex(16)
        grant: dict[str, Any] = {"access_token": access_token, "scope": ",".join(scopes)}
        expires_at = None
        if expiring:
            refresh_token = "shprt_" + secrets.token_hex(24)
            expires_at = self.now() + ACCESS_TOKEN_LIFETIME
            self._refresh_tokens[refresh_token] = _RefreshToken(shop, scopes, self.now() + REFRESH_TOKEN_LIFETIME)
            grant |= {
                "expires_in": ACCESS_TOKEN_LIFETIME,
                "refresh_token": refresh_token,
                "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
            }
        self._access_tokens[access_token] = _AccessToken(shop, scopes, expires_at)
        return grant

    def token_scopes(self, shop: EmulatedShop, access_token: str) -> frozenset[str] | None:
        """The scopes of a valid token for this shop, or None (expired, revoked, unknown, other shop)."""
        with self._lock:
            entry = self._access_tokens.get(access_token)
            if entry is None or entry.revoked or entry.shop != shop.domain:
                return None
            if entry.expires_at is not None and entry.expires_at < self.now():
                return None
            return frozenset(entry.scopes)

    # --- bulk operations ---------------------------------------------------------------------------

    def start_bulk_query(self, context: QueryContext, query: str) -> tuple[BulkJob | None, list[dict[str, Any]]]:
        shop = context.shop
        with self._lock:
            running = next((job for job in shop.bulk_jobs if job.running), None)
            if running is not None:
                message = f"A bulk query operation for this app and shop is already in progress: {running.gid}."
                return None, [{"field": None, "message": message, "code": "OPERATION_IN_PROGRESS"}]
            document, problem = check_bulk_query(self.schema, query)
            if document is None:
                return None, [{"field": ["query"], "message": problem, "code": "INVALID"}]
            self._bulk_numbers += 1
            token = secrets.token_urlsafe(24)
            job = BulkJob(
                number=self._bulk_numbers,
                shop_domain=shop.domain,
                query=query,
                document=document,
                token=token,
                path=Path(self._files.name) / f"{token}.jsonl",
            )
            shop.bulk_jobs.append(job)
        job.start(lambda window: dataclasses.replace(context, bulk_window=window), shop.bulk_outcome, shop.bulk_delay)
        return job, []

    def bulk_job(self, shop: EmulatedShop, gid: str) -> BulkJob | None:
        return next((job for job in shop.bulk_jobs if job.gid == gid), None)

    def bulk_job_by_token(self, shop: EmulatedShop, token: str) -> BulkJob | None:
        return next((job for job in shop.bulk_jobs if secrets.compare_digest(job.token, token)), None)
