"""The running app's backend: CORS answers only our own origin, and every response carries the security headers.

The policy itself (and that Reflex's pages work under it in production) is
tested in tests/test_security_headers.py and by the production end-to-end test.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.harness import AppProcess

FOREIGN = "https://attacker.example"
BACKEND_ROUTES = [
    ("GET", "/ping"),
    ("GET", "/healthz"),
    ("POST", "/auth/session"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/shopify/callback?code=x&state=y"),
    ("GET", "/sandbox/shopify/demo-small.myshopify.com/admin/oauth/authorize?client_id=x"),
]


@pytest.mark.parametrize(("method", "path"), BACKEND_ROUTES)
def test_a_foreign_origin_is_never_allowed_by_cors(live_app: AppProcess, method: str, path: str) -> None:
    url = f"{live_app.backend_url}{path}"
    foreign = httpx.request(method, url, headers={"Origin": FOREIGN}, follow_redirects=False)
    assert "access-control-allow-origin" not in foreign.headers
    preflight = httpx.options(
        url, headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}, follow_redirects=False
    )
    assert "access-control-allow-origin" not in preflight.headers
    # Our own pages are allowed: the check above can fail.
    own = httpx.request(method, url, headers={"Origin": live_app.frontend_url}, follow_redirects=False)
    assert own.headers["access-control-allow-origin"] == live_app.frontend_url


@pytest.mark.parametrize(("method", "path"), BACKEND_ROUTES)
def test_every_backend_response_carries_the_security_headers(live_app: AppProcess, method: str, path: str) -> None:
    response = httpx.request(method, f"{live_app.backend_url}{path}", follow_redirects=False)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert f"ws://localhost:{live_app.backend_port}" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    expected_referrer = "no-referrer" if path.startswith("/auth/") else "strict-origin-when-cross-origin"
    assert response.headers["referrer-policy"] == expected_referrer
    assert "strict-transport-security" not in response.headers  # plain http
