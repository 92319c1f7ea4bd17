"""Onboarding steps as a merchant performs them, shared by the end-to-end tests."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from offamazon_ui.sandbox.shopify.catalog import Catalog, CatalogProduct, CatalogVariant
from tests.e2e.harness import AppProcess
from tests.smtp import Inbox

PASSWORD = "Sturdy#Harbor42"
DEMO_SHOP = "demo-small.myshopify.com"
DEMO_SHOP_NAME = "Demo Small Shop"


def new_email() -> str:
    return f"merchant.{secrets.token_hex(4)}+shop@example.com"


def fill_registration(page: Page, email: str, password: str = PASSWORD, confirm: str | None = None) -> None:
    page.get_by_label("First name", exact=True).fill("Ada")
    page.get_by_label("Last name", exact=True).fill("Lovelace")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password", exact=True).fill(password if confirm is None else confirm)


def register(page: Page, app: AppProcess, email: str) -> None:
    page.goto(f"{app.frontend_url}/register")
    fill_registration(page, email)
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/verify$"))
    expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()


def register_and_verify(page: Page, app: AppProcess, inbox: Inbox) -> str:
    email = new_email()
    register(page, app, email)
    page.get_by_label("OTP", exact=True).fill(inbox.latest_code(email))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/connect/shopify$"))
    return email


def connect_shop(page: Page, shop_url: str = DEMO_SHOP) -> None:
    page.get_by_label("Shop URL", exact=True).fill(shop_url)
    page.get_by_role("button", name="Login to Shopify").click()
    page.get_by_role("button", name="Install app").click()
    expect(page).to_have_url(re.compile(r"/connect/amazon$"))


def use_demo_amazon_credentials(page: Page, dialog_name: str = "Connect Amazon") -> None:
    """Fill the Amazon credentials dialog with the sandbox's demo seller and wait until the values arrived."""
    dialog = page.get_by_role("dialog", name=dialog_name)
    dialog.get_by_role("button", name="Use demo credentials").click()
    # The values come back over the websocket; submitting before they arrive would send empty fields.
    expect(dialog.get_by_label("Seller ID", exact=True)).to_have_value(re.compile(r"^A[A-Z0-9]+$"))
    expect(dialog.get_by_label("Refresh Token", exact=True)).to_have_value(re.compile(r"^Atzr\|"))


def link_demo_amazon(page: Page) -> None:
    page.get_by_role("button", name="Connect Amazon").click()
    use_demo_amazon_credentials(page)
    page.get_by_role("dialog", name="Connect Amazon").get_by_role("button", name="Connect").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def searchable_variant(catalog: Catalog) -> tuple[CatalogProduct, CatalogVariant]:
    """A product and variant whose SKU the dashboard search finds in no other row."""
    products = [catalog.product(index) for index in range(catalog.product_count)]
    skus = [
        (product, catalog.variant(product.index, position))
        for product in products
        for position in range(1, product.variant_count + 1)
    ]
    return next(
        (product, variant)
        for product, variant in skus
        if variant.sku and sum(1 for _, other in skus if other.sku and variant.sku in other.sku) == 1
    )
