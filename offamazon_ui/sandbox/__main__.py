"""Serve both emulators as one process of their own: `python -m offamazon_ui.sandbox --port 8010`.

With several backend workers the emulators cannot live inside the backend:
each worker would hold its own OAuth codes, tokens and bulk operations. The
app then reaches this process through OFFAMAZON_SANDBOX_URL, under the same
/sandbox paths the in-process mount uses.
"""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from offamazon_ui import routes
from offamazon_ui.config import ConfigError, Settings, get_settings
from offamazon_ui.sandbox import build_sandbox
from offamazon_ui.services.redaction import install_redaction

DEFAULT_PORT = 8010


def build_sandbox_server(settings: Settings) -> Starlette:
    return Starlette(routes=[Mount(routes.SANDBOX_PREFIX, app=build_sandbox(settings))])


def main(argv: list[str] | None = None) -> None:
    install_redaction()  # OAuth codes and tokens pass through here too
    settings = get_settings()
    if not settings.is_sandbox:
        raise SystemExit("The emulators only run in sandbox mode (OFFAMAZON_MODE=sandbox).")
    configured_port = urlsplit(settings.sandbox_url).port if settings.sandbox_url else None
    parser = argparse.ArgumentParser(
        prog="python -m offamazon_ui.sandbox", description="Serve the Shopify and Amazon emulators under /sandbox."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=configured_port or DEFAULT_PORT,
        help=f"port to listen on (default: the port of OFFAMAZON_SANDBOX_URL, else {DEFAULT_PORT})",
    )
    args = parser.parse_args(argv)
    uvicorn.run(build_sandbox_server(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    try:
        main()
    except ConfigError as error:
        raise SystemExit(f"Configuration error: {error}") from None
