"""A simulated merchant: what a browser tab sends and receives over Reflex's websocket, without the browser.

Reflex's frontend speaks Socket.IO on /_event. A tab connects with its token in
the query string and the page's cookies, sends `hydrate_and_load` for the page
it opened (a full page load) or `on_load_internal` after a client-side
navigation, then `{name, payload, router_data}` for every event; the backend
answers with updates `{delta, events}`, whose `events` are redirects and
scripts for the browser to run. `Tab` does the same and does by HTTP what those
scripts make a browser do: post the session ticket (which sets the HttpOnly
cookie), open the Shopify authorize page and press "Install app".

`Merchant.onboard` then walks the onboarding as a person would: it acts on
whatever page it is on until it reaches the dashboard. When the websocket
drops (a backend worker died), it reconnects like the browser (same token,
same cookie), hydrates the page again and carries on from where the app puts
it, which is how a killed worker shows up in the figures: as reconnects and
retried steps, not as lost merchants.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import socketio

from loadtest.emulators import MARKETPLACE
from offamazon_ui import routes
from offamazon_ui.pages.connect_amazon import ConnectAmazonState
from offamazon_ui.pages.connect_shopify import ConnectShopifyState
from offamazon_ui.pages.login import LoginState
from offamazon_ui.pages.register import RegisterState
from offamazon_ui.pages.verify import VerifyState
from offamazon_ui.services.amazon import MARKETPLACE_FIELD, REFRESH_TOKEN_FIELD, SELLER_FIELD
from tests.smtp import CODE_IN_MAIL, Inbox

NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
HYDRATE = f"{ROOT_STATE}.hydrate_and_load"
NAVIGATED = f"{ROOT_STATE}.reflex___state____on_load_internal_state.on_load_internal"
HYDRATED_VAR = "is_hydrated_rx_state_"
# Page messages a merchant would read as "this did not work"; any non-empty one ends the attempt.
PROBLEM_VARS = ("errors_rx_state_", "form_error_rx_state_", "code_error_rx_state_", "shop_error_rx_state_")
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
FORM_ACTION = re.compile(r"f\.action = (\"[^\"]*\");")
FORM_FIELDS = re.compile(r"Object\.entries\((\{.*?\})\)")
LOCATION_ASSIGN = re.compile(r"window\.location\.assign\((\"[^\"]*\")\)")
STEP_TIMEOUT = 180.0
RECONNECT_TIMEOUT = 60.0
ATTEMPTS_PER_PAGE = 3
CODE_WAIT_SECONDS = 20.0
RESENDS = 4  # the page refuses a resend for 60 s after the last code
SIGN_IN = "sign in"  # what the newest email says instead of giving a code
ACCOUNT_EXISTS_SUBJECT = "You already have a"


class Disconnected(Exception):
    """The websocket closed under an open step."""


# What a backend worker dying looks like from the tab: the page or its websocket is gone.
PAGE_LOST = (Disconnected, httpx.TransportError, socketio.exceptions.ConnectionError)


class PageProblem(Exception):
    """The page showed an error message instead of moving on."""


@dataclass
class Outcome:
    """What the backend told the browser to do next."""

    redirect: str | None = None
    script: str | None = None


def event_name(state: type[Any], handler: str) -> str:
    return f"{state.get_full_name()}.{handler}"


class Tab:
    """One browser tab on the app: its token, its cookie, its websocket and the page it shows."""

    def __init__(self, base_url: str, client_ip: str, http: httpx.AsyncClient, backend_url: str | None = None) -> None:
        """base_url serves the pages; backend_url the websocket, when not the same port (`make run`)."""
        self.base_url, self.client_ip, self.http = base_url, client_ip, http
        self.backend_url = backend_url or base_url
        self.token = str(uuid4())
        self.cookies = httpx.Cookies()
        self.path = ""
        self.reconnects = 0
        self.tokens_replaced = 0
        self._socket: socketio.AsyncClient | None = None
        self._updates: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()  # None: the websocket closed

    @property
    def headers(self) -> dict[str, str]:
        # As a reverse proxy would pass it on (the app trusts one hop): each merchant has their own address.
        headers = {"X-Forwarded-For": self.client_ip}
        if cookie := "; ".join(f"{name}={value}" for name, value in self.cookies.items()):
            headers["Cookie"] = cookie
        return headers

    async def open(self, path: str) -> None:
        """A full page load: the page's HTML, a new websocket, hydration (following the page's own redirects)."""
        await self.close()
        self.path = path
        (await self.http.get(self.base_url + path, headers=self.headers)).raise_for_status()
        updates: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def dropped(*reason: object) -> None:
            await updates.put(None)

        socket = socketio.AsyncClient(reconnection=False)
        socket.on("event", updates.put, namespace=NAMESPACE)
        socket.on("new_token", self._adopt_token, namespace=NAMESPACE)
        socket.on("disconnect", dropped, namespace=NAMESPACE)
        self._updates = updates
        await socket.connect(
            f"{self.backend_url}?token={self.token}",
            headers=self.headers,
            transports=["websocket"],
            namespaces=[NAMESPACE],
            socketio_path=NAMESPACE,
            wait_timeout=30,
        )
        self._socket = socket
        await self._hydrate(HYDRATE)

    @property
    def connected(self) -> bool:
        return self._socket is not None and self._socket.connected

    async def reopen(self) -> None:
        """After a dropped connection: what the browser does, retrying until a worker answers."""
        self.reconnects += 1
        deadline = time.monotonic() + RECONNECT_TIMEOUT
        while True:
            try:
                await self.open(self.path)
                return
            except (*PAGE_LOST, httpx.HTTPStatusError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def navigate(self, path: str) -> None:
        """A client-side navigation (an rx.redirect): same websocket, the new page's on_load."""
        self.path = path
        await self._hydrate(NAVIGATED)

    async def send(self, name: str, payload: dict[str, Any]) -> Outcome:
        """Send an event and wait until the backend sends a redirect or a script; PageProblem on an error."""
        await self._emit(name, payload)
        while True:
            update = await self._next_update()
            self._raise_problem(update)
            for event in update.get("events", []):
                if event.get("name") == "_redirect":
                    return Outcome(redirect=event["payload"]["path"])
                if event.get("name") == "_call_script":
                    return Outcome(script=event["payload"]["javascript_code"])

    async def round_trip(self, name: str, payload: dict[str, Any], state: str, var: str) -> dict[str, dict[str, Any]]:
        """Send an event and wait for the update that sets `var` of `state`; what the updates carried meanwhile."""
        await self._emit(name, payload)
        seen: dict[str, dict[str, Any]] = {}
        while var not in seen.get(state, {}):
            for state_name, values in (await self._next_update()).get("delta", {}).items():
                seen.setdefault(state_name, {}).update(values)
        return seen

    async def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Send an event without waiting for anything (a keystroke's on_change)."""
        await self._emit(name, payload)

    async def close(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.disconnect()

    async def _emit(self, name: str, payload: dict[str, Any]) -> None:
        if self._socket is None or not self._socket.connected:
            raise Disconnected
        router_data = {"pathname": self.path, "asPath": self.path}
        await self._socket.emit("event", {"name": name, "payload": payload, "router_data": router_data}, NAMESPACE)

    async def _hydrate(self, event: str) -> None:
        await self._emit(event, {})
        while True:
            update = await self._next_update()
            redirects = [e["payload"]["path"] for e in update.get("events", []) if e.get("name") == "_redirect"]
            if redirects:  # the page's on_load sent the visitor elsewhere
                await self.navigate(redirects[-1])
                return
            if update.get("delta", {}).get(ROOT_STATE, {}).get(HYDRATED_VAR) is True:
                return

    async def _next_update(self) -> dict[str, Any]:
        try:
            update = await asyncio.wait_for(self._updates.get(), STEP_TIMEOUT)
        except TimeoutError:
            raise TimeoutError(f"no answer on {self.path} within {STEP_TIMEOUT:.0f} s") from None
        if update is None:
            raise Disconnected
        return update

    @staticmethod
    def _raise_problem(update: dict[str, Any]) -> None:
        for values in update.get("delta", {}).values():
            for name in PROBLEM_VARS:
                if values.get(name):
                    raise PageProblem(json.dumps(values[name])[:160])

    async def _adopt_token(self, token: str) -> None:
        # The backend took this tab for a duplicate of a live one: it starts afresh, under a token of its own.
        self.token = token
        self.tokens_replaced += 1


def run_script_target(script: str) -> tuple[str, dict[str, str]] | str:
    """What a script from the backend would make the browser do: (POST action, form fields) or a URL to open."""
    if (action := FORM_ACTION.search(script)) and (fields := FORM_FIELDS.search(script)):
        return json.loads(action.group(1)), json.loads(fields.group(1))
    if location := LOCATION_ASSIGN.search(script):
        return str(json.loads(location.group(1)))
    raise ValueError(f"unexpected script: {script[:120]}")


@dataclass
class Merchant:
    number: int
    email: str
    password: str
    shop: str
    seller_id: str
    refresh_token: str
    tab: Tab
    inbox: Inbox
    think_seconds: float = 0.0  # time on each page before acting, left out of the step's latency
    seconds: dict[str, float] = field(default_factory=dict)
    retries: int = 0
    error: str | None = None
    _used_codes: set[str] = field(default_factory=set)
    _followed_mails: set[str] = field(default_factory=set)

    async def onboard(self) -> None:
        """From the register page to the dashboard, as far as the app lets this merchant go."""
        actions: dict[str, tuple[str, Callable[[], Awaitable[None]]]] = {
            routes.REGISTER: ("register", self._register),
            routes.VERIFY: ("verify", self._verify),
            routes.LOGIN: ("login", self._log_in),
            routes.CONNECT_SHOPIFY: ("shopify", self._connect_shopify),
            routes.CONNECT_AMAZON: ("amazon", self._connect_amazon),
        }
        step = "open"
        try:
            await self._with_reconnects(lambda: self.tab.open(routes.REGISTER))
            while self.tab.path != routes.DASHBOARD:
                page = self.tab.path
                if page not in actions:
                    raise RuntimeError(f"landed on {page}")
                step, action = actions[page]
                await asyncio.sleep(self.think_seconds)
                started = time.perf_counter()
                attempts = 0
                while self.tab.path == page:  # until the app moves this merchant on
                    attempts += 1
                    if attempts > ATTEMPTS_PER_PAGE:
                        raise RuntimeError(f"still on {page} after {ATTEMPTS_PER_PAGE} attempts")
                    await self._with_reconnects(action)
                self.retries += attempts - 1
                self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started
        except Exception as error:  # a load test counts failures instead of stopping at the first
            self.error = f"{step}: {type(error).__name__}: {str(error)[:160]}"

    async def stay_on_dashboard(self) -> None:
        """After the wave: a tab whose websocket dropped reconnects, and must still show this merchant's dashboard."""
        if self.error is not None:
            return
        try:
            if not self.tab.connected:
                await self.tab.reopen()
            if self.tab.path != routes.DASHBOARD:
                raise RuntimeError(f"sent to {self.tab.path}")
        except Exception as error:
            self.error = f"dashboard: {type(error).__name__}: {str(error)[:160]}"

    async def _with_reconnects(self, action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
        except PAGE_LOST:
            # The websocket dropped, or a page load died with its worker: the merchant reloads the page.
            await self.tab.reopen()

    async def _follow(self, outcome: Outcome) -> None:
        if outcome.redirect is not None:
            await self.tab.navigate(outcome.redirect)
            return
        assert outcome.script is not None
        target = run_script_target(outcome.script)
        if isinstance(target, str):
            await self._install_on_shopify(target)
            return
        action, fields = target
        # A form the page submits: the browser names the page's origin, which the backend checks.
        answer = await self.tab.http.post(
            action, data=fields, headers={**self.tab.headers, "Origin": self.tab.base_url}
        )
        if answer.status_code not in (302, 303):
            raise RuntimeError(f"session hand-over answered {answer.status_code}")
        self.tab.cookies.update(answer.cookies)
        await self.tab.open(urlsplit(answer.headers["location"]).path)

    async def _register(self) -> None:
        # The checklist runs on every keystroke; one event with the whole password stands in for them.
        await self.tab.emit(event_name(RegisterState, "remember_email"), {"value": self.email})
        await self.tab.emit(event_name(RegisterState, "check_password"), {"value": self.password})
        form = {
            "first_name": "Load",
            "last_name": f"Merchant {self.number}",
            "email": self.email,
            "password": self.password,
            "confirm_password": self.password,
        }
        await self._follow(await self.tab.send(event_name(RegisterState, "submit"), {"form_data": form}))

    async def _verify(self) -> None:
        code = await asyncio.to_thread(self._latest_code, CODE_WAIT_SECONDS)
        for _ in range(RESENDS):
            if code is not None:
                break
            # The email never came (the worker sending it died): "Resend code", refused until the cooldown ends.
            await self.tab.emit(event_name(VerifyState, "resend"), {})
            code = await asyncio.to_thread(self._latest_code, CODE_WAIT_SECONDS)
        if code is None:
            raise TimeoutError(f"no code for {self.email} after {RESENDS} resends")
        if code == SIGN_IN:
            # The address is verified already (a verification went through in a worker that died before it
            # signed the merchant in) or was registered twice: the email says to sign in, so the merchant does.
            await self.tab.open(routes.LOGIN)
            return
        self._used_codes.add(code)
        await self._follow(await self.tab.send(event_name(VerifyState, "verify"), {"form_data": {"code": code}}))

    async def _log_in(self) -> None:
        form = {"email": self.email, "password": self.password}
        await self._follow(await self.tab.send(event_name(LoginState, "submit"), {"form_data": form}))

    async def _connect_shopify(self) -> None:
        outcome = await self.tab.send(
            event_name(ConnectShopifyState, "login_to_shopify"), {"form_data": {"shop": self.shop}}
        )
        await self._follow(outcome)

    async def _connect_amazon(self) -> None:
        form = {
            MARKETPLACE_FIELD: MARKETPLACE,
            SELLER_FIELD: self.seller_id,
            REFRESH_TOKEN_FIELD: self.refresh_token,
        }
        await self._follow(await self.tab.send(event_name(ConnectAmazonState, "connect"), {"form_data": form}))

    async def _install_on_shopify(self, authorize_url: str) -> None:
        """The emulator's authorize page, "Install app", and Shopify's redirect to our callback."""
        http = self.tab.http
        page = await http.get(authorize_url)
        page.raise_for_status()
        granted = await http.post(authorize_url, data=dict(HIDDEN_FIELD.findall(page.text)))
        if granted.status_code != 302:
            raise RuntimeError(f"authorize answered {granted.status_code}")
        callback = await http.get(granted.headers["location"], headers=self.tab.headers)
        if callback.status_code not in (302, 303, 307):
            raise RuntimeError(f"callback answered {callback.status_code}")
        await self.tab.open(urlsplit(callback.headers["location"]).path)

    def _latest_code(self, wait_seconds: float) -> str | None:
        """The newest code emailed to this merchant that they have not tried yet (a sign-in sends a new one),
        or SIGN_IN when the newest email, not yet followed, says "you already have an account, sign in"."""
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            for message in reversed(self.inbox.to(self.email)):
                if str(message["Subject"]).startswith(ACCOUNT_EXISTS_SUBJECT):
                    if message["Message-ID"] in self._followed_mails:
                        break
                    self._followed_mails.add(message["Message-ID"])
                    return SIGN_IN
                body = message.get_body(preferencelist=("plain",))
                if body is not None and (match := CODE_IN_MAIL.search(body.get_content())):
                    if (code := match.group(1) + match.group(2)) not in self._used_codes:
                        return code
                    break
            time.sleep(0.1)
        return None
