"""Register, verify, log out, log in and resume, in Chromium against the real app."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import AppProcess
from tests.e2e.steps import PASSWORD, fill_registration, new_email, register
from tests.smtp import Inbox


def rule(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("list", name="Password requirements").locator(f"li[data-rule='{name}']")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt!x", "at least 8 characters"),
        ("lowercase#only42", "1 uppercase letter"),
        ("UPPERCASE#ONLY42", "1 lowercase letter"),
        ("NoNumbers#Here", "1 number"),
        ("NoSpecials4242", "1 special character"),
    ],
)
def test_each_broken_password_rule_is_explained_and_nothing_is_created(
    live_app: AppProcess, page: Page, inbox: Inbox, password: str, message: str
) -> None:
    email = new_email()
    page.goto(f"{live_app.frontend_url}/register")
    fill_registration(page, email, password)
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#field-password-error")).to_contain_text(message)
    expect(page).to_have_url(re.compile(r"/register$"))
    assert inbox.to(email) == []


def test_live_checklist_turns_green_while_typing(live_app: AppProcess, page: Page) -> None:
    page.goto(f"{live_app.frontend_url}/register")
    password = page.get_by_label("Password", exact=True)
    password.press_sequentially("abc")
    expect(rule(page, "lowercase")).to_have_attribute("data-passed", "true")
    expect(rule(page, "uppercase")).to_have_attribute("data-passed", "false")
    password.press_sequentially("DEF12#x")
    for name in ("length", "uppercase", "lowercase", "number", "special"):
        expect(rule(page, name)).to_have_attribute("data-passed", "true")
    page.get_by_role("button", name="Show password").click()
    expect(password).to_have_attribute("type", "text")


def test_mismatched_confirmation_and_bad_email_stay_on_register(live_app: AppProcess, page: Page) -> None:
    page.goto(f"{live_app.frontend_url}/register")
    fill_registration(page, "not-an-email", confirm="Different#Pass99")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#field-email-error")).to_be_visible()
    expect(page.locator("#field-confirm-password-error")).to_contain_text("do not match")
    expect(page).to_have_url(re.compile(r"/register$"))


def test_register_verify_logout_login_and_resume(live_app: AppProcess, page: Page, inbox: Inbox) -> None:
    email = new_email()
    register(page, live_app, email)
    expect(page.get_by_text(email)).to_be_visible()
    code = inbox.latest_code(email)

    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.get_by_label("OTP", exact=True).fill(wrong)
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#field-code-error")).to_contain_text("incorrect")

    page.get_by_label("OTP", exact=True).fill(f"{code[:3]} {code[3:]}")
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/connect/shopify$"))
    expect(page.get_by_test_id("user-name")).to_have_text("Ada Lovelace")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"{live_app.frontend_url}/connect/shopify")
    expect(page).to_have_url(re.compile(r"/login$"))

    page.get_by_label("Email address", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("Wrong#Password1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Email or password is incorrect")

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/connect/shopify$"))
    expect(page.get_by_test_id("user-name")).to_have_text("Ada Lovelace")


def screen_text(page: Page, email: str) -> str:
    """The verify screen's text with the address and the ticking countdowns masked."""
    return re.sub(r"\d+", "#", page.locator("main").inner_text().replace(email, "<email>"))


def test_registering_a_taken_email_looks_exactly_like_a_new_one(live_app: AppProcess, page: Page) -> None:
    taken = new_email()
    register(page, live_app, taken)
    taken_screen = screen_text(page, taken)
    page.context.clear_cookies()

    fresh = new_email()
    register(page, live_app, fresh)
    fresh_screen = screen_text(page, fresh)

    page.context.clear_cookies()
    register(page, live_app, taken)
    again_screen = screen_text(page, taken)
    assert again_screen == fresh_screen == taken_screen
