"""Connect Shopify through the emulator's OAuth pages, then Amazon through the dialog."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from tests.e2e.conftest import FrameRecorder
from tests.e2e.harness import AppProcess
from tests.e2e.steps import (
    DEMO_SHOP_NAME,
    PASSWORD,
    connect_shop,
    link_demo_amazon,
    register_and_verify,
    use_demo_amazon_credentials,
)
from tests.smtp import Inbox


def test_bad_shop_urls_are_refused_next_to_the_field(live_app: AppProcess, page: Page, inbox: Inbox) -> None:
    register_and_verify(page, live_app, inbox)
    for bad in ("evil.com", "https://evil.com/x.myshopify.com", "x.myshopify.com.evil.com"):
        page.get_by_label("Shop URL", exact=True).fill(bad)
        page.get_by_role("button", name="Login to Shopify").click()
        expect(page.locator("#field-shop-error")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/connect/shopify$"))


def test_connect_shopify_then_amazon_lands_on_the_dashboard(
    live_app: AppProcess, page: Page, inbox: Inbox, server_frames: FrameRecorder
) -> None:
    email = register_and_verify(page, live_app, inbox)
    otp = inbox.latest_code(email)
    page.get_by_label("Shop URL", exact=True).fill("https://Demo-Small.myshopify.com/admin/products")
    page.get_by_role("button", name="Login to Shopify").click()
    expect(page.get_by_role("button", name="Install app")).to_be_visible()
    page.get_by_role("button", name="Install app").click()
    expect(page).to_have_url(re.compile(r"/connect/amazon$"))
    expect(page.get_by_test_id("shop-connected")).to_contain_text(DEMO_SHOP_NAME)

    page.get_by_role("button", name="Connect Amazon").click()
    dialog = page.get_by_role("dialog", name="Connect Amazon")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Marketplace ID", exact=True)).to_have_value("ATVPDKIKX0DER")
    notes = dialog.get_by_test_id("credential-notes")
    expect(notes).to_contain_text("accurate to avoid connection errors")
    expect(notes).to_contain_text("support@cedcommerce.com")
    expect(notes).to_contain_text("Do not share your credentials")

    dialog.get_by_label("Seller ID", exact=True).fill("A1WRONGSELLER99")
    dialog.get_by_label("Refresh Token", exact=True).fill("Atzr|not-a-real-token")
    dialog.get_by_role("button", name="Connect").click()
    expect(dialog.locator("#field-refresh-token-error")).to_be_visible()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Refresh Token", exact=True)).to_have_value("")

    use_demo_amazon_credentials(page)
    dialog.get_by_role("button", name="Connect").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    session_cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "offamazon_session")
    assert next(c for c in page.context.cookies() if c["name"] == "offamazon_session")["httpOnly"]
    # The demo token is public sandbox data sent to fill the field; a typed token is never sent back.
    server_frames.assert_never_sent(PASSWORD, otp, session_cookie, "Atzr|not-a-real-token")


def test_onboarded_merchant_resumes_on_the_dashboard_after_login(
    live_app: AppProcess, page: Page, inbox: Inbox
) -> None:
    email = register_and_verify(page, live_app, inbox)
    connect_shop(page, f"resume-{secrets.token_hex(3)}")
    link_demo_amazon(page)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("Sturdy#Harbor42")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
