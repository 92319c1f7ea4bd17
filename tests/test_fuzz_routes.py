"""The backend routes with hostile requests, over real HTTP: never a 500, never a change to stored data.

The OAuth callback gets arbitrary query strings, also correctly signed ones (so
they pass the HMAC check and reach the state, shop and timestamp checks); the
cookie routes get arbitrary forms, bodies, origins and cookies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from offamazon_ui import routes
from offamazon_ui.backend import build_backend
from offamazon_ui.config import get_settings
from offamazon_ui.models import WebhookDelivery
from offamazon_ui.services.shopify.oauth import CALLBACK_PATH, query_hmac
from offamazon_ui.state import SESSION_COOKIE
from tests.hardening_fixtures import Seeded, changed_tables, seeded, snapshot
from tests.servers import serve

__all__ = ["seeded"]
EXAMPLES = 40
# Header values as HTTP allows them: printable ASCII without surrounding spaces.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(str.strip)
CALLBACK_KEYS = ("code", "state", "hmac", "shop", "timestamp", "host", "signature")
WEIRD_VALUES = (
    "",
    "owner-store.myshopify.com",
    "evil.example",
    "http://[",
    "9" * 5000,
    "-1",
    "%zz",
    "\u202e",
    str(int(time.time())),
)
texts = st.text(max_size=40) | st.sampled_from(WEIRD_VALUES)
pairs = st.lists(st.tuples(st.sampled_from(CALLBACK_KEYS) | st.text(max_size=10), texts), max_size=8)
origins = st.sampled_from(["", "http://localhost:3000", "http://localhost:8000", "http://evil.example", "http://["])


@pytest.fixture
def backend(seeded: Seeded) -> Iterator[str]:
    with serve(build_backend(get_settings())) as base:
        yield base


def cookie_header(choice: str, data: Seeded, garbage: str) -> dict[str, str]:
    value = {
        "none": None,
        "owner": f"{SESSION_COOKIE}={data.owner.session_token}",
        "garbage": f"{SESSION_COOKIE}={garbage}",
        "raw": garbage,
    }[choice]
    return {"Cookie": value} if value else {}


def fuzz(test: Any) -> Any:
    return settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])(test)


def test_oauth_callback_never_fails_or_writes(backend: str, seeded: Seeded, db: Engine) -> None:
    secret = get_settings().shopify_api_secret

    @fuzz
    @given(
        raw=st.booleans(),
        text=st.text(max_size=200),
        params=pairs,
        sign=st.booleans(),
        cookie=st.sampled_from(["none", "owner", "garbage", "raw"]),
        garbage=HEADER_TEXT,
    )
    def run(raw: bool, text: str, params: list[tuple[str, str]], sign: bool, cookie: str, garbage: str) -> None:
        if raw:
            query = quote(text, safe="=&%+;")
        else:
            if sign:
                params = [(key, value) for key, value in params if key != "hmac"]
                params.append(("hmac", query_hmac(params, secret)))
            query = urlencode(params)
        before = snapshot(db)
        response = httpx.get(
            f"{backend}{CALLBACK_PATH}?{query}", headers=cookie_header(cookie, seeded, garbage), follow_redirects=False
        )
        assert response.status_code in (303, 400), response.text
        if response.status_code == 303:
            assert response.headers["referrer-policy"] == "no-referrer"
        assert changed_tables(before, snapshot(db)) == set()

    run()


def test_cookie_routes_never_fail_or_write(backend: str, seeded: Seeded, db: Engine) -> None:
    @fuzz
    @given(
        path=st.sampled_from(["/auth/session", "/auth/logout"]),
        origin=origins | HEADER_TEXT,
        referer=st.none() | HEADER_TEXT,
        body=st.one_of(
            st.dictionaries(st.sampled_from(["ticket", "next"]) | st.text(max_size=8), texts, max_size=4).map(
                lambda form: ("form", form)
            ),
            st.binary(max_size=200).map(lambda data: ("multipart", data)),
            st.binary(max_size=200).map(lambda data: ("raw", data)),
        ),
        cookie=st.sampled_from(["none", "garbage", "raw"]),
        garbage=HEADER_TEXT,
    )
    def run(path: str, origin: str, referer: str | None, body: tuple[str, Any], cookie: str, garbage: str) -> None:
        headers = {"Origin": origin} | ({"Referer": referer} if referer is not None else {})
        headers |= cookie_header(cookie, seeded, garbage)
        kind, content = body
        before = snapshot(db)
        if kind == "form":
            response = httpx.post(f"{backend}{path}", data=content, headers=headers, follow_redirects=False)
        else:
            content_type = "multipart/form-data; boundary=xyz" if kind == "multipart" else "application/octet-stream"
            headers["Content-Type"] = content_type
            response = httpx.post(f"{backend}{path}", content=content, headers=headers, follow_redirects=False)
        assert response.status_code in (303, 400, 403), response.text
        assert changed_tables(before, snapshot(db)) == set()

    run()


# What applying an earlier, signed delivery in the background may still be changing.
BACKGROUND_TABLES = {
    "webhookdelivery",
    "shopifyproduct",
    "shopifyvariant",
    "shopifyproductimage",
    "shopconnection",
    "importjob",
}


def deliveries(db: Engine) -> int:
    with Session(db) as session:
        return session.exec(select(func.count()).select_from(WebhookDelivery)).one()


def test_webhook_route_never_fails_and_unsigned_deliveries_never_write(backend: str, db: Engine) -> None:
    secret = get_settings().shopify_api_secret
    payloads = st.one_of(
        st.binary(max_size=200),
        st.dictionaries(st.sampled_from(["id", "title", "variants", "updated_at"]) | st.text(max_size=8), texts).map(
            lambda value: json.dumps(value).encode()
        ),
    )

    @fuzz
    @given(
        body=payloads,
        sign=st.booleans(),
        topic=st.sampled_from(["products/update", "products/delete", "app/uninstalled", "shop/redact"]) | HEADER_TEXT,
        shop=st.sampled_from(["owner-store.myshopify.com", ""]) | HEADER_TEXT,
        webhook_id=HEADER_TEXT,
        signature=HEADER_TEXT,
    )
    def run(body: bytes, sign: bool, topic: str, shop: str, webhook_id: str, signature: str) -> None:
        if sign:
            signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": webhook_id,
        }
        before, stored = snapshot(db), deliveries(db)
        response = httpx.post(f"{backend}{routes.SHOPIFY_WEBHOOKS_ENDPOINT}", content=body, headers=headers)
        assert response.status_code in ((200, 400) if sign else (401,)), response.text
        if not sign:
            # An unsigned request could only act through a stored delivery: none was stored, nothing else changed.
            assert deliveries(db) == stored
            assert changed_tables(before, snapshot(db)) - BACKGROUND_TABLES == set()

    run()
