"""The whole onboarding in sandbox ends on a dashboard that imported exactly the shop's catalog."""

from __future__ import annotations

import secrets

from playwright.sync_api import Page, expect

from offamazon_ui.sandbox.shopify.catalog import Catalog
from tests.e2e.harness import AppProcess
from tests.e2e.steps import connect_shop, link_demo_amazon, register_and_verify, searchable_variant
from tests.smtp import Inbox

SANDBOX_SHOP_PRODUCTS = 40  # what the app's sandbox gives a shop it has not seen before


def test_full_onboarding_imports_every_product_and_finds_a_sku(live_app: AppProcess, page: Page, inbox: Inbox) -> None:
    domain = f"dash-{secrets.token_hex(3)}.myshopify.com"
    catalog = Catalog(domain, SANDBOX_SHOP_PRODUCTS)
    products = [catalog.product(index) for index in range(SANDBOX_SHOP_PRODUCTS)]
    variants = sum(product.variant_count for product in products)
    known = searchable_variant(catalog)

    register_and_verify(page, live_app, inbox)
    connect_shop(page, domain)
    link_demo_amazon(page)

    expect(page.get_by_test_id("import-status")).to_have_text("completed", timeout=60_000)
    expect(page.get_by_test_id("imported-count")).to_have_text(str(SANDBOX_SHOP_PRODUCTS))
    expect(page.get_by_test_id("total-count")).to_have_text(str(SANDBOX_SHOP_PRODUCTS))
    expect(page.get_by_test_id("variant-count")).to_have_text(str(variants))
    expect(page.get_by_test_id("variant-total")).to_have_text(str(variants))

    product, variant = known
    page.get_by_label("Search products").fill(variant.sku)
    rows = page.get_by_test_id("product-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(product.title[:40])
    expect(rows.first).to_contain_text(variant.sku)
