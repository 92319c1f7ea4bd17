"""A product renamed in the (sandbox) shop shows up renamed on the dashboard within seconds, without a re-sync:
the emulator sends a signed products/update webhook to the app, which applies it in the background."""

from __future__ import annotations

import secrets
import time

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.harness import AppProcess
from tests.e2e.steps import connect_shop, link_demo_amazon, register_and_verify
from tests.smtp import Inbox

FIRST_PRODUCT_ID = 8_000_000_000_001
ARRIVAL_SECONDS = 10.0


def test_a_product_renamed_in_shopify_is_renamed_on_the_dashboard(
    live_app: AppProcess, page: Page, inbox: Inbox
) -> None:
    domain = f"hook-{secrets.token_hex(3)}.myshopify.com"
    register_and_verify(page, live_app, inbox)
    connect_shop(page, domain)
    link_demo_amazon(page)
    expect(page.get_by_test_id("import-status")).to_have_text("completed", timeout=60_000)

    new_title = f"Renamed By Webhook {secrets.token_hex(3)}"
    control = f"{live_app.backend_url}/sandbox/shopify/_control/shops/{domain}/products"
    response = httpx.post(control, json={"action": "update", "product_id": FIRST_PRODUCT_ID, "title": new_title})
    assert response.status_code == 200, response.text
    assert response.json()["webhook_ids"], "the app subscribed to products/update when the shop connected"

    rows = page.get_by_test_id("product-row")
    search = page.get_by_label("Search products")
    deadline = time.monotonic() + ARRIVAL_SECONDS
    while True:
        # Each search asks the server again; the dashboard is never told to re-sync.
        search.fill("")
        search.fill(new_title)
        try:
            expect(rows).to_have_count(1, timeout=1_000)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    expect(rows.first).to_contain_text(new_title)
