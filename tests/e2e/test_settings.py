"""The settings page in Chromium against the real app: profile, password, sessions, two-factor, disconnecting,
deleting the account."""

from __future__ import annotations

import re
import secrets
import time

import pyotp
from playwright.sync_api import Browser, Page, expect

from tests.e2e.harness import AppProcess
from tests.e2e.steps import (
    PASSWORD,
    connect_shop,
    link_demo_amazon,
    register_and_verify,
    use_demo_amazon_credentials,
)
from tests.smtp import Inbox

NEW_PASSWORD = "Brisk#Meadow57"


def onboard(page: Page, app: AppProcess, inbox: Inbox) -> str:
    """A merchant with a store and an Amazon account, signed in and on the settings page."""
    email = register_and_verify(page, app, inbox)
    connect_shop(page, f"settings-{secrets.token_hex(3)}")
    link_demo_amazon(page)
    page.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    return email


def log_in(page: Page, app: AppProcess, email: str, password: str) -> None:
    page.goto(f"{app.frontend_url}/login")
    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def session_cookie(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "offamazon_session")


def test_profile_password_and_sessions(live_app: AppProcess, page: Page, browser: Browser, inbox: Inbox) -> None:
    email = onboard(page, live_app, inbox)
    expect(page.get_by_test_id("shop-domain")).to_contain_text(".myshopify.com")
    expect(page.get_by_test_id("amazon-seller")).to_have_text("A2DE••••••NA")
    expect(page.get_by_test_id("last-import")).not_to_be_empty()

    page.get_by_label("First name", exact=True).fill("Grace")
    page.get_by_label("Last name", exact=True).fill("")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#field-last-name-error")).to_contain_text("Enter your last name")
    page.get_by_label("Last name", exact=True).fill("Hopper")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_text("Your name was saved.")).to_be_visible()
    expect(page.get_by_test_id("user-name")).to_have_text("Grace Hopper")

    old_cookie = session_cookie(page)
    page.get_by_label("Current password", exact=True).fill("Wrong#Harbor42")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#field-current-password-error")).to_contain_text("incorrect")
    checklist = page.get_by_role("list", name="Password requirements")
    expect(checklist.locator("li[data-rule='special']")).to_have_attribute("data-passed", "true")

    page.get_by_label("Current password", exact=True).fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password", exact=True).fill(NEW_PASSWORD)
    # This browser is handed a fresh session by a full navigation back to the settings page.
    with page.expect_navigation(url=re.compile(r"/settings$")):
        page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("user-name")).to_have_text("Grace Hopper")
    assert session_cookie(page) != old_cookie

    other_device = browser.new_context()
    try:
        other = other_device.new_page()
        log_in(other, live_app, email, PASSWORD)
        expect(other.get_by_text("Email or password is incorrect.")).to_be_visible()
        log_in(other, live_app, email, NEW_PASSWORD)
        expect(other).to_have_url(re.compile(r"/dashboard$"))

        page.reload()
        sessions_table = page.get_by_test_id("signed-in-sessions")
        expect(sessions_table.locator("tbody tr")).to_have_count(2)
        expect(sessions_table.get_by_text("This device")).to_have_count(1)

        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        other.goto(f"{live_app.frontend_url}/settings")
        expect(other).to_have_url(re.compile(r"/login$"))
    finally:
        other_device.close()


def test_two_factor_sign_in(live_app: AppProcess, page: Page, inbox: Inbox) -> None:
    email = onboard(page, live_app, inbox)
    expect(page.get_by_test_id("two-factor-status")).to_have_text("Off")
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    key_input = page.get_by_label("Setup key", exact=True)
    expect(key_input).to_have_value(re.compile(r"^[A-Z2-7 ]{32,}$"))
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_have_attribute(
        "src", re.compile(r"^data:image/svg\+xml")
    )
    totp = pyotp.TOTP(key_input.input_value().replace(" ", ""))

    page.get_by_label("Code from the app", exact=True).fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#field-code-error")).to_contain_text("incorrect")
    page.get_by_label("Code from the app", exact=True).fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    recovery = page.get_by_label("Recovery codes", exact=True)
    expect(recovery).to_have_value(
        re.compile(r"^([2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5}\n){9}[2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5}$")
    )
    recovery_codes = recovery.input_value().splitlines()
    expect(key_input).to_have_value("")
    page.get_by_role("button", name="I saved my recovery codes").click()
    expect(recovery).to_have_value("")
    expect(page.get_by_test_id("two-factor-status")).to_contain_text("10 recovery codes left")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, live_app, email, PASSWORD)
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "offamazon_session"]
    code = page.get_by_label("Authentication code", exact=True)
    code.fill("12345")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#field-code-error")).to_be_visible()
    # The code used to turn two-factor on is spent; the next step's code is within the accepted window.
    code.fill(totp.at(time.time() + totp.interval))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, live_app, email, PASSWORD)
    page.get_by_label("Authentication code", exact=True).fill(recovery_codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_update_disconnect_and_delete_the_account(live_app: AppProcess, page: Page, inbox: Inbox) -> None:
    email = onboard(page, live_app, inbox)

    page.get_by_role("button", name="Update credentials").click()
    dialog = page.get_by_role("dialog", name="Update Amazon credentials")
    dialog.get_by_label("Seller ID", exact=True).fill("A1WRONGSELLER99")
    dialog.get_by_label("Refresh Token", exact=True).fill("Atzr|not-a-real-token")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#field-refresh-token-error")).to_be_visible()
    expect(dialog.get_by_label("Refresh Token", exact=True)).to_have_value("")
    use_demo_amazon_credentials(page, "Update Amazon credentials")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Amazon credentials updated.")).to_be_visible()

    page.get_by_test_id("amazon-connection").get_by_role("button", name="Disconnect").click()
    page.get_by_role("alertdialog", name="Disconnect Amazon").get_by_role("button", name="Disconnect Amazon").click()
    expect(page.get_by_test_id("amazon-missing")).to_be_visible()
    page.goto(f"{live_app.frontend_url}/dashboard")
    expect(page).to_have_url(re.compile(r"/connect/amazon$"))

    page.goto(f"{live_app.frontend_url}/settings")
    page.get_by_test_id("shopify-connection").get_by_role("button", name="Disconnect").click()
    shop_dialog = page.get_by_role("dialog", name="Disconnect Shopify")
    shop_dialog.get_by_label("Delete my imported products").click()
    shop_dialog.get_by_role("button", name="Disconnect store").click()
    expect(page.get_by_test_id("shop-missing")).to_be_visible()
    page.goto(f"{live_app.frontend_url}/connect/amazon")
    expect(page).to_have_url(re.compile(r"/connect/shopify$"))

    page.goto(f"{live_app.frontend_url}/settings")
    page.get_by_role("button", name="Delete my account").click()
    delete = page.get_by_role("dialog", name="Delete your account")
    delete.get_by_label("Password", exact=True).fill("Wrong#Harbor42")
    delete.get_by_role("button", name="Delete everything").click()
    expect(delete.get_by_text("Your password is incorrect.")).to_be_visible()
    delete.get_by_label("Password", exact=True).fill(PASSWORD)
    delete.get_by_role("button", name="Delete everything").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    log_in(page, live_app, email, PASSWORD)
    expect(page.get_by_text("Email or password is incorrect.")).to_be_visible()
    page.goto(f"{live_app.frontend_url}/settings")
    expect(page).to_have_url(re.compile(r"/login$"))
