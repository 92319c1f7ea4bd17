"""The backend routes that set and clear the session cookie, over real HTTP.

Sign-in hands a one-time ticket from the websocket to POST /auth/session, which
sets the HttpOnly cookie; only our own pages may post there (no login CSRF) and
the redirect that follows only goes to our own pages (no open redirect).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from offamazon_ui.backend import build_backend
from offamazon_ui.config import get_settings
from offamazon_ui.models import User
from offamazon_ui.services import sessions
from tests.servers import serve

OWN = "http://localhost:3000"  # OFFAMAZON_PUBLIC_URL's default


@pytest.fixture
def user_id(db: Engine) -> int:
    with Session(db) as session:
        user = User(email="cookie@example.com", first_name="Cora", last_name="Cookie", password_hash="x")
        session.add(user)
        session.commit()
        assert user.id is not None
        return user.id


@pytest.fixture
def backend(db: Engine) -> Iterator[str]:
    with serve(build_backend(get_settings())) as base:
        yield base


def sign_in(
    backend: str, ticket: str, origin: str | None = OWN, next_route: str = "/connect/shopify"
) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    return httpx.post(f"{backend}/auth/session", data={"ticket": ticket, "next": next_route}, headers=headers)


def test_a_ticket_sets_an_httponly_lax_cookie_once(backend: str, user_id: int) -> None:
    ticket = sessions.issue_ticket(user_id)
    response = sign_in(backend, ticket)
    assert response.status_code == 303 and response.headers["location"] == f"{OWN}/connect/shopify"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("offamazon_session=")
    assert {"HttpOnly", "Path=/", "SameSite=lax"} <= {part.strip() for part in cookie.split(";")}
    assert "Secure" not in cookie  # plain http in development; see the https test
    assert sessions.resolve_session(response.cookies["offamazon_session"]) == user_id

    again = sign_in(backend, ticket)
    assert again.headers["location"] == f"{OWN}/login" and "set-cookie" not in again.headers


@pytest.mark.parametrize("origin", [None, "https://attacker.example", "http://localhost:3000.attacker.example"])
def test_posts_from_other_origins_are_refused_and_leave_the_ticket_unused(
    backend: str, user_id: int, origin: str | None
) -> None:
    ticket = sessions.issue_ticket(user_id)
    refused = sign_in(backend, ticket, origin=origin)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert sign_in(backend, ticket).status_code == 303  # still usable by our own page


@pytest.mark.parametrize("target", ["https://attacker.example/", "//attacker.example", "/dashboard@attacker", ""])
def test_the_redirect_after_sign_in_only_goes_to_our_own_pages(backend: str, user_id: int, target: str) -> None:
    response = sign_in(backend, sessions.issue_ticket(user_id), next_route=target)
    assert response.headers["location"] == f"{OWN}/login"


def test_logout_ends_the_session_and_clears_the_cookie_only_from_our_pages(backend: str, user_id: int) -> None:
    token = sessions.create_session(user_id)
    cookie = {"Cookie": f"offamazon_session={token}"}
    refused = httpx.post(f"{backend}/auth/logout", headers=cookie | {"Origin": "https://attacker.example"})
    assert refused.status_code == 403 and sessions.resolve_session(token) == user_id

    response = httpx.post(f"{backend}/auth/logout", headers=cookie | {"Origin": OWN})
    assert response.status_code == 303 and response.headers["location"] == f"{OWN}/login"
    assert 'offamazon_session=""' in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    assert sessions.resolve_session(token) is None


def test_over_https_the_cookie_is_secure_and_bound_to_the_host(
    app_env: Path, user_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFAMAZON_PUBLIC_URL", "https://shop.example.com")
    get_settings.cache_clear()
    with serve(build_backend(get_settings())) as backend:
        response = sign_in(backend, sessions.issue_ticket(user_id), origin="https://shop.example.com")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-offamazon_session=")
    assert {"Secure", "HttpOnly", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    assert "Domain=" not in cookie
