import re

from playwright.sync_api import Page, expect

from tests.e2e.harness import AppProcess


def test_first_visit_lands_on_register(live_app: AppProcess, page: Page) -> None:
    page.goto(live_app.frontend_url)
    expect(page).to_have_url(re.compile(r"/register$"))
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    progress = page.get_by_role("navigation", name="Onboarding progress")
    for step in ("Register", "Verify", "Shopify", "Amazon", "Dashboard"):
        expect(progress.get_by_text(step, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="support@cedcommerce.com")).to_be_visible()
