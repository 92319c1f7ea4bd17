"""Connecting a store: authorize URL, callback checks (in order), token exchange errors, storage."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlmodel import Session, select

from offamazon_ui.models import OAuthState, utcnow
from offamazon_ui.sandbox.shopify.app import sign_query
from offamazon_ui.services.crypto import decrypt, keyed_hash
from offamazon_ui.services.db import get_engine
from offamazon_ui.services.shopify import CALLBACK_PATH, begin_install, callback_url, complete_install
from offamazon_ui.services.shopify.errors import (
    CallbackRejected,
    InstallFailed,
    InvalidShopDomain,
    ShopAlreadyConnected,
    ShopifyUnreachable,
    ShopUnavailable,
)
from offamazon_ui.services.shopify.oauth import query_hmac, verify_query_hmac
from offamazon_ui.services.shopify.webhooks import SUBSCRIBED_TOPICS
from tests.shopify_fixtures import API_KEY, API_SECRET, SMALL_SHOP, ShopifySandbox, approve_install, shopify

__all__ = ["shopify"]

VECTOR = "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&timestamp=1337178173"


def test_hmac_matches_shopifys_documented_vectors() -> None:
    assert query_hmac(parse_qsl(VECTOR), "hush") == "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"
    with_state = parse_qsl(VECTOR + "&state=0.6784241404160823")
    expected = "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
    assert query_hmac(with_state, "hush") == expected
    assert sign_query(dict(with_state), "hush") == expected  # the emulator signs the same way
    assert verify_query_hmac(dict(with_state) | {"hmac": expected}, "hush")
    assert verify_query_hmac(dict(with_state) | {"hmac": expected.upper()}, "hush")
    assert not verify_query_hmac(dict(with_state) | {"hmac": expected}, "hush2")
    assert not verify_query_hmac(dict(with_state) | {"hmac": expected, "shop": "evil.myshopify.com"}, "hush")


def test_hmac_escapes_separators_so_values_cannot_forge_pairs() -> None:
    forged = [("a", "1&b=2")]
    honest = [("a", "1"), ("b", "2")]
    assert query_hmac(forged, "k") != query_hmac(honest, "k")


def _state_row(nonce: str) -> OAuthState:
    with Session(get_engine()) as session:
        return session.exec(
            select(OAuthState).where(OAuthState.nonce_hash == keyed_hash("shopify-oauth-state", nonce))
        ).one()


def test_begin_install_builds_the_authorize_url_with_a_stored_hashed_state(shopify: ShopifySandbox) -> None:
    url = begin_install(shopify.user_id, "https://Demo-Small.myshopify.com/admin")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{shopify.base}/{SMALL_SHOP}/admin/oauth/authorize"
    query = parse_qs(parts.query)
    assert query["client_id"] == [API_KEY]
    assert query["scope"] == ["read_products,read_inventory"]
    assert query["redirect_uri"] == ["http://localhost:8000/auth/shopify/callback"] == [callback_url()]
    assert CALLBACK_PATH == "/auth/shopify/callback"
    state = query["state"][0]
    assert len(state) >= 40
    row = _state_row(state)
    assert row.user_id == shopify.user_id and row.shop == SMALL_SHOP and row.used_at is None
    assert row.nonce_hash != state
    assert timedelta(minutes=9) < row.expires_at - utcnow() <= timedelta(minutes=10)
    assert parse_qs(urlsplit(begin_install(shopify.user_id, SMALL_SHOP)).query)["state"][0] != state


def test_begin_install_rejects_bad_addresses_before_storing_anything(shopify: ShopifySandbox) -> None:
    with pytest.raises(InvalidShopDomain):
        begin_install(shopify.user_id, "https://evil.com/x.myshopify.com")
    with Session(get_engine()) as session:
        assert session.exec(select(OAuthState)).all() == []


async def test_install_round_trip_stores_an_encrypted_connection(
    shopify: ShopifySandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    callback = await approve_install(begin_install(shopify.user_id, "demo-small"))
    params = dict(parse_qsl(callback))
    assert set(params) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert all(ch.isalnum() or ch in ".-_" for value in params.values() for ch in value)
    assert "=" not in params["host"]
    caplog.clear()  # from here on only our code runs (the browser's request log may show the code)

    result = await complete_install(callback, shopify.user_id)

    assert result.shop_domain == SMALL_SHOP and result.shop_name == "Demo Small Shop"
    assert result.scopes == ("read_inventory", "read_products") and not result.reconnected
    [row] = shopify.connections()
    assert (row.user_id, row.shop_domain, row.shop_name) == (shopify.user_id, SMALL_SHOP, "Demo Small Shop")
    access_token, refresh_token = decrypt(row.access_token_enc), decrypt(row.refresh_token_enc or "")
    assert access_token.startswith("shpat_") and refresh_token.startswith("shprt_")
    assert access_token not in row.access_token_enc and refresh_token not in (row.refresh_token_enc or "")
    assert row.access_expires_at is not None and row.refresh_expires_at is not None
    assert timedelta(minutes=59) < row.access_expires_at - utcnow() <= timedelta(hours=1)
    assert _state_row(params["state"]).used_at is not None
    assert [r.status for r in shopify.emulator.requests("access_token")] == [200]
    # The shop's name, then the webhook subscriptions: one listing and one creation per topic.
    assert [r.status for r in shopify.emulator.requests("graphql")] == [200] * 6
    subscribed = {subscription.topic for subscription in shopify.emulator.shops[SMALL_SHOP].webhook_subscriptions}
    assert subscribed == set(SUBSCRIBED_TOPICS)
    for text in (repr(result), str(result), caplog.text):
        assert access_token not in text and refresh_token not in text and params["code"] not in text


async def test_reconnecting_the_same_shop_updates_the_connection(shopify: ShopifySandbox) -> None:
    await complete_install(await approve_install(begin_install(shopify.user_id, SMALL_SHOP)), shopify.user_id)
    [first] = shopify.connections()
    again = await complete_install(await approve_install(begin_install(shopify.user_id, SMALL_SHOP)), shopify.user_id)
    [second] = shopify.connections()
    assert again.reconnected
    assert second.id == first.id and second.connected_at == first.connected_at
    assert decrypt(second.access_token_enc) != decrypt(first.access_token_enc)


async def test_a_shop_connected_to_another_account_is_refused(shopify: ShopifySandbox) -> None:
    # The other account starts first, so its callback arrives after the shop is taken.
    late_callback = await approve_install(begin_install(shopify.other_user_id, SMALL_SHOP))
    await complete_install(await approve_install(begin_install(shopify.user_id, SMALL_SHOP)), shopify.user_id)
    token_requests = len(shopify.emulator.requests("access_token"))

    with pytest.raises(ShopAlreadyConnected) as at_start:
        begin_install(shopify.other_user_id, SMALL_SHOP)
    with pytest.raises(ShopAlreadyConnected) as at_callback:
        await complete_install(late_callback, shopify.other_user_id)

    assert at_start.value.field == "shop" and "another Off-Amazon account" in at_callback.value.message
    assert len(shopify.emulator.requests("access_token")) == token_requests
    assert [row.user_id for row in shopify.connections()] == [shopify.user_id]


# --- every rejected callback: typed error, nothing stored, no token request -----------------------------


def _tamper(query: str, **changes: str) -> str:
    params = dict(parse_qsl(query)) | changes
    return urlencode(params)


def _resign(query: str, **changes: str) -> str:
    params = {k: v for k, v in parse_qsl(query) if k != "hmac"} | changes
    return urlencode(params | {"hmac": sign_query(params, API_SECRET)})


async def _assert_rejected(shopify: ShopifySandbox, query: str, user_id: int | None, code: str) -> CallbackRejected:
    with pytest.raises(CallbackRejected) as caught:
        await complete_install(query, user_id)
    assert caught.value.code == code
    assert caught.value.message
    assert shopify.emulator.requests("access_token") == []
    assert shopify.connections() == []
    return caught.value


async def test_tampered_hmac_is_rejected_before_the_state_is_touched(shopify: ShopifySandbox) -> None:
    callback = await approve_install(begin_install(shopify.user_id, SMALL_SHOP))
    await _assert_rejected(shopify, _tamper(callback, hmac="0" * 64), shopify.user_id, "bad_hmac")
    await _assert_rejected(shopify, _tamper(callback, shop="other.myshopify.com"), shopify.user_id, "bad_hmac")
    await _assert_rejected(shopify, _tamper(callback, code="f" * 32), shopify.user_id, "bad_hmac")
    await _assert_rejected(shopify, callback + "&shop=demo-small.myshopify.com", shopify.user_id, "bad_hmac")
    without_hmac = urlencode([(k, v) for k, v in parse_qsl(callback) if k != "hmac"])
    await _assert_rejected(shopify, without_hmac, shopify.user_id, "bad_hmac")
    # The genuine callback still works: the forged ones did not burn its state.
    assert (await complete_install(callback, shopify.user_id)).shop_domain == SMALL_SHOP


async def test_reused_state_is_rejected(shopify: ShopifySandbox) -> None:
    callback = await approve_install(begin_install(shopify.user_id, SMALL_SHOP))
    await complete_install(callback, shopify.user_id)
    with pytest.raises(CallbackRejected) as caught:
        await complete_install(callback, shopify.user_id)
    assert caught.value.code == "state_used"
    assert len(shopify.emulator.requests("access_token")) == 1


async def test_state_of_another_user_is_rejected(shopify: ShopifySandbox) -> None:
    callback = await approve_install(begin_install(shopify.other_user_id, SMALL_SHOP))
    await _assert_rejected(shopify, callback, shopify.user_id, "state_foreign")
    assert _state_row(dict(parse_qsl(callback))["state"]).used_at is None


async def test_callback_without_a_signed_in_user_is_rejected(shopify: ShopifySandbox) -> None:
    callback = await approve_install(begin_install(shopify.user_id, SMALL_SHOP))
    error = await _assert_rejected(shopify, callback, None, "not_signed_in")
    assert "Sign in" in error.message


async def test_expired_state_is_rejected(shopify: ShopifySandbox) -> None:
    callback = await approve_install(begin_install(shopify.user_id, SMALL_SHOP))
    with Session(get_engine()) as session:
        row = session.exec(select(OAuthState)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    await _assert_rejected(shopify, callback, shopify.user_id, "state_expired")


async def test_unknown_state_is_rejected(shopify: ShopifySandbox) -> None:
    callback = await approve_install(begin_install(shopify.user_id, SMALL_SHOP))
    await _assert_rejected(shopify, _resign(callback, state="made-up-state"), shopify.user_id, "state_unknown")


async def test_callback_for_another_shop_than_the_state_is_rejected(shopify: ShopifySandbox) -> None:
    shopify.emulator.add_shop("second-store.myshopify.com", "Second Store")
    state = parse_qs(urlsplit(begin_install(shopify.user_id, SMALL_SHOP)).query)["state"][0]
    other_url = begin_install(shopify.user_id, "second-store").split("&state=")[0] + f"&state={state}"
    callback = await approve_install(other_url)
    assert dict(parse_qsl(callback))["shop"] == "second-store.myshopify.com"
    await _assert_rejected(shopify, callback, shopify.user_id, "shop_mismatch")


async def test_old_timestamp_is_rejected(shopify: ShopifySandbox) -> None:
    url = begin_install(shopify.user_id, SMALL_SHOP)
    shopify.emulator.clock_offset = -400  # Shopify signs a timestamp from more than 5 minutes ago
    callback = await approve_install(url)
    await _assert_rejected(shopify, callback, shopify.user_id, "stale_timestamp")
    await _assert_rejected(
        shopify, _resign(callback, timestamp=str(int(time.time()) + 400)), shopify.user_id, "state_used"
    )


# --- the token exchange: each Shopify error shape ----------------------------------------------------------


async def _approved(shopify: ShopifySandbox) -> str:
    return await approve_install(begin_install(shopify.user_id, SMALL_SHOP))


async def test_expired_code_gives_a_reconnect_message(shopify: ShopifySandbox) -> None:
    callback = await _approved(shopify)
    shopify.emulator.clock_offset = 61  # codes live 60 s at Shopify
    with pytest.raises(InstallFailed) as caught:
        await complete_install(callback, shopify.user_id)
    assert caught.value.code == "code_rejected" and "connect your store again" in caught.value.message
    assert [r.status for r in shopify.emulator.requests("access_token")] == [400]
    assert shopify.connections() == []


async def test_wrong_app_secret_is_reported_as_our_problem(shopify: ShopifySandbox) -> None:
    callback = await _approved(shopify)
    shopify.emulator.api_secret = "rotated-secret"
    with pytest.raises(InstallFailed) as caught:
        await complete_install(callback, shopify.user_id)
    assert caught.value.code == "app_credentials" and "problem on our side" in caught.value.message
    assert [r.status for r in shopify.emulator.requests("access_token")] == [401]


@pytest.mark.parametrize(("setting", "status", "code", "words"), [
    ("frozen", 402, "shop_frozen", "unpaid bill"),
    ("locked", 423, "shop_locked", "locked"),
])  # fmt: skip
async def test_unavailable_shop_is_explained(
    shopify: ShopifySandbox, setting: str, status: int, code: str, words: str
) -> None:
    callback = await _approved(shopify)
    shopify.emulator.configure_shop(SMALL_SHOP, **{setting: True})
    with pytest.raises(ShopUnavailable) as caught:
        await complete_install(callback, shopify.user_id)
    assert caught.value.code == code and words in caught.value.message and SMALL_SHOP in caught.value.message
    assert [r.status for r in shopify.emulator.requests("access_token")] == [status]
    assert shopify.connections() == []


async def test_server_errors_on_the_token_endpoint_are_retried(shopify: ShopifySandbox) -> None:
    callback = await _approved(shopify)
    shopify.emulator.inject_fault(SMALL_SHOP, "access_token", status=503, times=2)
    assert (await complete_install(callback, shopify.user_id)).shop_name == "Demo Small Shop"
    assert [r.status for r in shopify.emulator.requests("access_token")] == [503, 503, 200]


async def test_a_lost_token_response_asks_to_connect_again(shopify: ShopifySandbox) -> None:
    # Shopify redeemed the code but the answer never arrived; the retry finds the code used.
    callback = await _approved(shopify)
    shopify.emulator.inject_fault(SMALL_SHOP, "access_token", kind="drop")
    with pytest.raises(InstallFailed) as caught:
        await complete_install(callback, shopify.user_id)
    assert caught.value.code == "code_rejected"
    assert [r.outcome for r in shopify.emulator.requests("access_token")] == ["dropped", "ok"]
    assert shopify.connections() == []


async def test_a_token_endpoint_that_keeps_failing_asks_to_try_later(shopify: ShopifySandbox) -> None:
    callback = await _approved(shopify)
    shopify.emulator.inject_fault(SMALL_SHOP, "access_token", status=500, times=10)
    with pytest.raises(ShopifyUnreachable) as caught:
        await complete_install(callback, shopify.user_id)
    assert "try again in a few minutes" in caught.value.message
    assert len(shopify.emulator.requests("access_token")) == 5
    assert shopify.connections() == []


async def test_missing_scopes_are_explained_and_nothing_is_stored(shopify: ShopifySandbox) -> None:
    shopify.emulator.configure_shop(SMALL_SHOP, scopes_granted=["read_products"])
    with pytest.raises(InstallFailed) as caught:
        await complete_install(await _approved(shopify), shopify.user_id)
    assert caught.value.code == "missing_scopes" and "read_inventory" in caught.value.message
    assert shopify.connections() == []


async def test_a_write_scope_satisfies_its_read_scope(shopify: ShopifySandbox) -> None:
    shopify.emulator.configure_shop(SMALL_SHOP, scopes_granted=["write_products", "read_inventory"])
    result = await complete_install(await _approved(shopify), shopify.user_id)
    assert result.scopes == ("read_inventory", "write_products")


# --- the emulator's OAuth surface ----------------------------------------------------------------------------


async def test_authorize_page_refuses_unlisted_redirects_unknown_apps_and_shops(shopify: ShopifySandbox) -> None:
    url = begin_install(shopify.user_id, SMALL_SHOP)
    async with httpx.AsyncClient() as http:
        unlisted = await http.get(url.replace("localhost%3A8000", "localhost%3A8001"))
        wrong_app = await http.get(url.replace(f"client_id={API_KEY}", "client_id=someone-else"))
        unknown_shop = await http.get(url.replace(SMALL_SHOP, "no-such-shop.myshopify.com"))
    assert unlisted.status_code == 400
    assert "Oauth error invalid_request: The redirect_uri is not whitelisted" in unlisted.text
    assert wrong_app.status_code == 400 and "Oauth error invalid_request" in wrong_app.text
    assert unknown_shop.status_code == 404
    assert "Install app" not in unlisted.text + wrong_app.text + unknown_shop.text


async def test_token_endpoint_accepts_form_bodies_and_rotates_refresh_tokens(shopify: ShopifySandbox) -> None:
    callback = dict(parse_qsl(await _approved(shopify)))
    token_url = f"{shopify.base}/{SMALL_SHOP}/admin/oauth/access_token"
    credentials = {"client_id": API_KEY, "client_secret": API_SECRET}
    async with httpx.AsyncClient() as http:

        async def refresh(refresh_token: str) -> httpx.Response:
            body = credentials | {"grant_type": "refresh_token", "refresh_token": refresh_token}
            return await http.post(token_url, json=body)

        granted = await http.post(token_url, data=credentials | {"code": callback["code"], "expiring": "1"})
        reused = await http.post(token_url, json=credentials | {"code": callback["code"]})
        first = granted.json()
        rotated = (await refresh(first["refresh_token"])).json()
        # The old refresh token works until the new one is used once (Shopify's resilient refresh).
        again = await refresh(first["refresh_token"])
        await refresh(again.json()["refresh_token"])
        stale = await refresh(first["refresh_token"])
    assert granted.status_code == 200 and first["expires_in"] == 3600
    assert first["scope"] == "read_products,read_inventory"
    assert reused.status_code == 400
    assert reused.json() == {
        "error": "invalid_request",
        "error_description": "The authorization code was not found or was already used",
    }
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"] != first["access_token"]
    assert again.status_code == 200
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
