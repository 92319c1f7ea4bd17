"""Capture the real screens for the README: starts the app in sandbox mode and walks the onboarding.

Run with `make screenshots`; images go to docs/screenshots/.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.harness import AppProcess  # noqa: E402
from tests.e2e.steps import PASSWORD, fill_registration, new_email, use_demo_amazon_credentials  # noqa: E402
from tests.smtp import smtp_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with smtp_server() as inbox, tempfile.TemporaryDirectory() as data_dir:
        app = AppProcess(data_dir=Path(data_dir), env_overrides={"OFFAMAZON_SMTP_URL": inbox.url})
        app.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(30_000)
                email = new_email()
                page.goto(f"{app.frontend_url}/register")
                fill_registration(page, email)
                page.get_by_label("Password", exact=True).fill("")
                page.get_by_label("Password", exact=True).press_sequentially("Sturdy#Har")
                page.screenshot(path=OUT / "1-register.png", full_page=True)
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Register").click()
                expect(page.get_by_role("heading", name="Verify your email")).to_be_visible()
                page.screenshot(path=OUT / "2-verify.png", full_page=True)
                page.get_by_label("OTP", exact=True).fill(inbox.latest_code(email))
                page.get_by_role("button", name="Verify").click()
                expect(page).to_have_url(re.compile(r"/connect/shopify$"))
                page.get_by_label("Shop URL", exact=True).fill("demo-small.myshopify.com")
                page.screenshot(path=OUT / "3-connect-shopify.png", full_page=True)
                page.get_by_role("button", name="Login to Shopify").click()
                expect(page.get_by_role("button", name="Install app")).to_be_visible()
                page.screenshot(path=OUT / "3b-shopify-authorize.png", full_page=True)
                page.get_by_role("button", name="Install app").click()
                expect(page).to_have_url(re.compile(r"/connect/amazon$"))
                page.get_by_role("button", name="Connect Amazon").click()
                dialog = page.get_by_role("dialog", name="Connect Amazon")
                use_demo_amazon_credentials(page)
                page.screenshot(path=OUT / "4-connect-amazon.png", full_page=True)
                dialog.get_by_role("button", name="Connect").click()
                expect(page).to_have_url(re.compile(r"/dashboard$"))
                expect(page.get_by_test_id("import-status")).to_have_text("completed", timeout=60_000)
                expect(page.get_by_test_id("product-row").first).to_be_visible()
                page.screenshot(path=OUT / "5-dashboard.png", full_page=True)
                page.get_by_role("link", name="Settings").click()
                expect(page.get_by_role("heading", name="Settings")).to_be_visible()
                page.screenshot(path=OUT / "6-settings.png", full_page=True)
                browser.close()
        except Exception:
            print(app.log_tail(80))
            raise
        finally:
            app.stop()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
