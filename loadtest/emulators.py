"""The sandbox emulators for the onboarding load test, as a process: `python -m loadtest.emulators PORT`.

The same Shopify emulator the app's sandbox serves, and the Amazon emulator with
one seller per simulated merchant. SP-API rate-limits per seller and app (as
Amazon does), so 200 merchants sharing the one demo seller would measure a
throttle no real group of merchants meets.
"""

from __future__ import annotations

import hashlib
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from offamazon_ui import routes
from offamazon_ui.config import get_settings
from offamazon_ui.sandbox.amazon import AmazonEmulator, DemoParticipation, DemoSeller
from offamazon_ui.sandbox.shopify import build_shopify_emulator_for_settings

MARKETPLACE = "ATVPDKIKX0DER"
SELLERS = 1_000


def load_seller(number: int) -> DemoSeller:
    return DemoSeller(
        seller_id=f"A9LOAD{number:06d}",
        refresh_token="Atzr|IwEBI" + hashlib.sha256(f"loadtest-seller-{number}".encode()).hexdigest() * 3,
        participations=(DemoParticipation(MARKETPLACE, f"Load Store {number}"),),
    )


def main(port: int) -> None:
    settings = get_settings()
    sellers = tuple(load_seller(number) for number in range(SELLERS))
    amazon = AmazonEmulator(settings.lwa_client_id, settings.lwa_client_secret, sellers=sellers)
    sandbox = Starlette(
        routes=[
            Mount("/shopify", app=build_shopify_emulator_for_settings(settings)),
            Mount("/amazon", app=amazon.app),
        ]
    )
    server = Starlette(routes=[Mount(routes.SANDBOX_PREFIX, app=sandbox)])
    uvicorn.run(server, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
