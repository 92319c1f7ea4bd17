"""Who is signed in, checked server-side on every protected load and event.

The session token lives in an HttpOnly cookie set by a backend route; the
websocket handshake carries it, and Reflex strips it from what it sends to the
browser. Only the user's display name is public.
"""

from __future__ import annotations

import asyncio
import json
from http.cookies import CookieError, SimpleCookie

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.config import get_settings
from offamazon_ui.services import onboarding

SESSION_COOKIE = "offamazon_session"


def session_cookie_name(secure: bool) -> str:
    # The __Host- prefix pins the cookie to our host over https; browsers refuse it over http.
    return f"__Host-{SESSION_COOKIE}" if secure else SESSION_COOKIE


def read_session_token(cookie_header: str) -> str | None:
    cookies = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except CookieError:
        return None
    for name in (session_cookie_name(True), session_cookie_name(False)):
        if name in cookies:
            return cookies[name].value
    return None


def post_navigation_script(action: str, form_fields: dict[str, str]) -> str:
    """Browser JS that navigates this tab by a form POST, so values travel in the body, never the URL."""
    return (
        "(() => {const f = document.createElement('form'); f.method = 'POST';"
        f"f.action = {json.dumps(action)};"
        f"for (const [k, v] of Object.entries({json.dumps(form_fields)}))"
        " {const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);}"
        "document.body.appendChild(f); f.submit();})()"
    )


def hand_over_session_script(ticket: str, next_route: str) -> str:
    """Post a one-time ticket to the backend route that sets the HttpOnly session cookie."""
    action = f"{get_settings().backend_url}{routes.SESSION_COOKIE_ENDPOINT}"
    return post_navigation_script(action, {"ticket": ticket, "next": next_route})


class SessionState(rx.State):
    signed_in: bool = False
    user_name: str = ""
    _user_id: int | None = None

    async def _authenticate(self) -> onboarding.Identity | None:
        """Resolve the cookie to a live session; remembers only the user id, in a backend var."""
        token = read_session_token(self.router.headers.cookie)
        identity = await asyncio.to_thread(onboarding.identify, token) if token else None
        if identity is None:
            self._user_id, self.signed_in, self.user_name = None, False, ""
            return None
        self._user_id, self.signed_in, self.user_name = identity.user_id, True, identity.display_name
        return identity

    def _session_token(self) -> str | None:
        return read_session_token(self.router.headers.cookie)

    async def _guard(self, route: str) -> tuple[int | None, rx.event.EventSpec | None]:
        """(user id, None) when the user may see `route`; otherwise (None, a redirect)."""
        identity = await self._authenticate()
        return access_to(identity, route)

    def log_out(self):  # type: ignore[no-untyped-def]
        """The backend route revokes the session and clears the HttpOnly cookie."""
        self._user_id, self.signed_in, self.user_name = None, False, ""
        return rx.call_script(post_navigation_script(f"{get_settings().backend_url}{routes.LOGOUT_ENDPOINT}", {}))

    async def resume(self):  # type: ignore[no-untyped-def]
        """For public pages: a signed-in visitor goes straight to their next step."""
        identity = await self._authenticate()
        if identity is not None:
            return rx.redirect(allowed_routes(identity)[-1])
        return None

    async def land(self):  # type: ignore[no-untyped-def]
        """The root URL: newcomers register, returning merchants resume where they left off."""
        identity = await self._authenticate()
        return rx.redirect(allowed_routes(identity)[-1] if identity else routes.REGISTER)


async def check_access(session_token: str | None, route: str) -> tuple[int | None, rx.event.EventSpec | None]:
    """For background tasks, which may not write state while they wait on the database."""
    identity = await asyncio.to_thread(onboarding.identify, session_token) if session_token else None
    return access_to(identity, route)


def access_to(identity: onboarding.Identity | None, route: str) -> tuple[int | None, rx.event.EventSpec | None]:
    if identity is None:
        return None, rx.redirect(routes.LOGIN)
    allowed = allowed_routes(identity)
    if route not in allowed:
        return None, rx.redirect(allowed[-1])
    return identity.user_id, None


def allowed_routes(identity: onboarding.Identity) -> list[str]:
    """The onboarding pages a user may open, in order; the last is their next unfinished step."""
    if not identity.email_verified:
        return [routes.VERIFY]
    allowed = [routes.CONNECT_SHOPIFY]
    if identity.shop_connected:
        allowed.append(routes.CONNECT_AMAZON)
        if identity.amazon_connected:
            allowed.append(routes.DASHBOARD)
    return allowed
