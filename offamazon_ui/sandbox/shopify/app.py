"""The Shopify emulator's HTTP surface: OAuth pages, token endpoint, Admin GraphQL, bulk files.

Routed by shop in the path (`/{shop}/admin/...`), so one app serves every
emulated store; mounted under a prefix, it builds absolute URLs with url_for,
which includes the mount path. `/_control/...` routes let a test or a demo turn
the same knobs as the ShopifyEmulator object in `app.state.emulator`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from graphql import GraphQLError, execute_sync, get_operation_ast, parse, validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from offamazon_ui.sandbox.shopify.catalog import PRODUCT_ID_BASE
from offamazon_ui.sandbox.shopify.cost import MAX_QUERY_COST, CostError, actual_cost, requested_cost
from offamazon_ui.sandbox.shopify.schema import (
    MutationView,
    QueryContext,
    QueryRootView,
    resolve_field,
    resolve_type,
)
from offamazon_ui.sandbox.shopify.state import EmulatedShop, Fault, ShopifyEmulator
from offamazon_ui.sandbox.shopify.webhooks import product_id_of, product_payload

UNAUTHORIZED_MESSAGE = "[API] Invalid API key or access token (unrecognized login or wrong password)"
API_VERSION = re.compile(r"^\d{4}-(01|04|07|10)$|^unstable$")
SCOPE = re.compile(r"^(unauthenticated_)?(read|write)_[a-z_]+$")
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
SCOPE_LABELS = {
    "read_products": "View products, variants and collections",
    "write_products": "Manage products, variants and collections",
    "read_inventory": "View inventory and locations",
    "write_inventory": "Manage inventory and locations",
}
_URL_SLOT = "URLSLOT"


def sign_query(params: dict[str, str], secret: str) -> str:
    """Shopify's redirect signature (hex HMAC-SHA256 of the sorted k=v pairs, hmac left out)."""

    def escape(text: str, is_key: bool) -> str:
        text = text.replace("%", "%25").replace("&", "%26")
        return text.replace("=", "%3D") if is_key else text

    message = "&".join(
        f"{escape(k, True)}={escape(v, False)}" for k, v in sorted(params.items()) if k not in ("hmac", "signature")
    )
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class _DroppedResponse(Response):
    """Sends the headers and part of the body, then drops the connection."""

    def __init__(self, body: bytes, keep: int, status_code: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(content=body, status_code=status_code, media_type="application/json", headers=headers)
        self._keep = keep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: self._keep], "more_body": True})
        raise ConnectionAbortedError("emulated connection drop")


def _error_page(status: int, title: str, text: str) -> HTMLResponse:
    body = f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
    return HTMLResponse(body + f"<p>{html.escape(text)}</p></body></html>", status_code=status)


class _Handlers:
    def __init__(self, emulator: ShopifyEmulator) -> None:
        self.emulator = emulator

    async def _enter(self, request: Request, route: str) -> tuple[EmulatedShop | None, Fault | None, Response | None]:
        """Find the shop and apply its latency and the next fault queued for this route."""
        domain = request.path_params["shop"]
        shop = self.emulator.shop(domain)
        if shop is None:
            self.emulator.record(route, domain, request.method, 404, "unknown_shop")
            if route == "authorize":
                return None, None, _error_page(404, "Page not found", "There's no page at this address.")
            return None, None, JSONResponse({"errors": "Not Found"}, status_code=404)
        if shop.latency:
            await asyncio.sleep(shop.latency)
        fault = self.emulator.take_fault(shop, route)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            self.emulator.record(route, domain, request.method, fault.status, "fault")
            headers = {"Retry-After": str(fault.seconds or 2.0)} if fault.status == 429 else None
            body = (
                {"errors": "Exceeded 2 calls per second for api client."}
                if fault.status == 429
                else {"errors": "Internal Server Error"}
            )
            return shop, fault, JSONResponse(body, status_code=fault.status, headers=headers)
        return shop, fault if fault is not None and fault.kind == "drop" else None, None

    def _finish(
        self,
        request: Request,
        route: str,
        shop: EmulatedShop,
        fault: Fault | None,
        response: Response,
        outcome: str = "ok",
    ) -> Response:
        if fault is not None:
            self.emulator.record(route, shop.domain, request.method, response.status_code, "dropped")
            keep = fault.after_bytes or len(response.body) // 2
            return _DroppedResponse(
                bytes(response.body), keep, response.status_code, {"content-type": "application/json"}
            )
        self.emulator.record(route, shop.domain, request.method, response.status_code, outcome)
        return response

    # --- OAuth ---------------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        shop, _fault, early = await self._enter(request, "authorize")
        if early is not None or shop is None:
            return early or Response(status_code=500)
        params = dict(await request.form()) if request.method == "POST" else dict(request.query_params)
        client_id, redirect_uri = str(params.get("client_id", "")), str(params.get("redirect_uri", ""))
        scopes = tuple(s.strip() for s in str(params.get("scope", "")).split(",") if s.strip())
        problem = None
        if client_id != self.emulator.api_key:
            problem = "Oauth error invalid_request: The client_id is not valid"  # wording unconfirmed
        elif redirect_uri not in self.emulator.allowed_redirect_uris:
            problem = "Oauth error invalid_request: The redirect_uri is not whitelisted"
        elif bad := [s for s in scopes if not SCOPE.match(s)]:
            problem = f"Oauth error invalid_scope: The access scope is invalid: {', '.join(bad)}"
        if problem is not None:
            self.emulator.record("authorize", shop.domain, request.method, 400, "rejected")
            return _error_page(400, "Oauth error", problem)
        state = str(params.get("state", ""))
        if request.method == "GET":
            self.emulator.record("authorize", shop.domain, "GET", 200)
            return HTMLResponse(self._install_page(shop, client_id, scopes, redirect_uri, state))
        code = self.emulator.issue_code(shop, client_id, self.emulator.granted_scopes(shop, scopes))
        handle = shop.domain.removesuffix(".myshopify.com")
        callback = {
            "code": code,
            "host": base64.urlsafe_b64encode(f"admin.shopify.com/store/{handle}".encode()).decode().rstrip("="),
            "shop": shop.domain,
            "timestamp": str(int(self.emulator.now())),
        }
        if state:
            callback["state"] = state
        callback["hmac"] = sign_query(callback, self.emulator.api_secret)
        self.emulator.record("authorize", shop.domain, "POST", 302)
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(callback)}", status_code=302)

    def _install_page(
        self, shop: EmulatedShop, client_id: str, scopes: tuple[str, ...], redirect_uri: str, state: str
    ) -> str:
        e = html.escape
        items = "".join(f"<li>{e(SCOPE_LABELS.get(scope, scope))} <code>{e(scope)}</code></li>" for scope in scopes)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{e(value)}">'
            for name, value in (
                ("client_id", client_id),
                ("scope", ",".join(scopes)),
                ("redirect_uri", redirect_uri),
                ("state", state),
            )
        )
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Install {e(self.emulator.app_name)} – Shopify (sandbox)</title>
<style>body{{font-family:system-ui,sans-serif;background:#f1f1f1;margin:0}}main{{max-width:32rem;margin:4rem auto;
background:#fff;border-radius:12px;padding:2rem;box-shadow:0 1px 3px #0002}}button{{background:#303030;color:#fff;
border:0;border-radius:8px;padding:.7rem 1.4rem;font-size:1rem;cursor:pointer}}small{{color:#616161}}</style></head>
<body><main>
<p><small>Shopify sandbox · {e(shop.name)} ({e(shop.domain)})</small></p>
<h1>Install {e(self.emulator.app_name)}</h1>
<p>This app will be able to:</p><ul>{items}</ul>
<form method="post">{hidden}<button type="submit">Install app</button></form>
</main></body></html>"""

    async def access_token(self, request: Request) -> Response:
        shop, fault, early = await self._enter(request, "access_token")
        if early is not None or shop is None:
            return early or Response(status_code=500)
        try:
            if request.headers.get("content-type", "").startswith("application/json"):
                body = await request.json()
            else:
                body = dict(await request.form())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._finish(
                request, "access_token", shop, fault, JSONResponse({"error": "invalid_request"}, status_code=400)
            )
        response = self._token_response(shop, {key: str(value) for key, value in body.items()})
        return self._finish(request, "access_token", shop, fault, response)

    def _token_response(self, shop: EmulatedShop, body: dict[str, str]) -> Response:
        emulator = self.emulator
        secret_ok = hmac.compare_digest(body.get("client_secret", "").encode(), emulator.api_secret.encode())
        if body.get("client_id") != emulator.api_key or not secret_ok:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed."}, status_code=401
            )
        if shop.frozen:
            return JSONResponse({"errors": "Unavailable Shop"}, status_code=402)
        if shop.locked:
            return JSONResponse({"errors": "This store is unavailable"}, status_code=423)
        if body.get("grant_type") == "refresh_token":
            grant = emulator.redeem_refresh_token(shop, body.get("refresh_token", ""))
            if grant is None:
                return JSONResponse(
                    {"error": "invalid_grant", "error_description": "The refresh token is invalid or has expired."},
                    status_code=400,
                )
            return JSONResponse(grant)
        grant = emulator.redeem_code(
            shop, body.get("code", ""), expiring=body.get("expiring", "0") in ("1", "true", "True")
        )
        if grant is None:
            return JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "The authorization code was not found or was already used",
                },
                status_code=400,
            )
        return JSONResponse(grant)

    # --- Admin GraphQL -------------------------------------------------------------------------------

    async def graphql(self, request: Request) -> Response:
        shop, fault, early = await self._enter(request, "graphql")
        if early is not None or shop is None:
            return early or Response(status_code=500)
        if shop.frozen:
            return self._finish(
                request, "graphql", shop, fault, JSONResponse({"errors": "Unavailable Shop"}, status_code=402)
            )
        if shop.locked:
            return self._finish(
                request, "graphql", shop, fault, JSONResponse({"errors": "This store is unavailable"}, status_code=423)
            )
        scopes = self.emulator.token_scopes(shop, request.headers.get("x-shopify-access-token", ""))
        if scopes is None:
            return self._finish(
                request, "graphql", shop, fault, JSONResponse({"errors": UNAUTHORIZED_MESSAGE}, status_code=401)
            )
        version = request.path_params["version"]
        if not API_VERSION.match(version):
            return self._finish(request, "graphql", shop, fault, JSONResponse({"errors": "Not Found"}, status_code=404))
        body = await self._graphql_body(request)
        if body is None:
            missing = {"errors": {"query": "Required parameter missing or invalid"}}
            return self._finish(request, "graphql", shop, fault, JSONResponse(missing, status_code=400))
        context = QueryContext(
            emulator=self.emulator,
            shop=shop,
            api_version=version,
            scopes=scopes,
            image_url_template=str(request.url_for("image", shop=shop.domain, name=_URL_SLOT)).replace(
                _URL_SLOT, "{name}"
            ),
            bulk_url_template=str(request.url_for("bulk_download", shop=shop.domain, token=_URL_SLOT)).replace(
                _URL_SLOT, "{token}"
            ),
        )
        payload, outcome = run_graphql(context, body)
        headers = {"X-Shopify-API-Version": version}
        return self._finish(request, "graphql", shop, fault, JSONResponse(payload, headers=headers), outcome)

    @staticmethod
    async def _graphql_body(request: Request) -> dict[str, Any] | None:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/graphql"):
            return {"query": raw.decode()}
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return None
        return body

    # --- bulk files and images -------------------------------------------------------------------------

    async def bulk_download(self, request: Request) -> Response:
        shop, fault, early = await self._enter(request, "bulk_download")
        if early is not None or shop is None:
            return early or Response(status_code=500)
        job = self.emulator.bulk_job_by_token(shop, request.path_params["token"])
        if job is None or not job.path.exists():
            self.emulator.record("bulk_download", shop.domain, "GET", 404, "unknown")
            return Response("NoSuchKey", status_code=404, media_type="application/xml")
        size = job.path.stat().st_size
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", request.headers.get("range", ""))
        if match:
            start = int(match.group(1))
            if start >= size:
                self.emulator.record("bulk_download", shop.domain, "GET", 416)
                return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        stop = size
        if fault is not None:
            stop = min(size, start + (fault.after_bytes or (size - start) // 2))
        headers = {"Content-Length": str(size - start), "Accept-Ranges": "bytes"}
        if match:
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        status = 206 if match else 200
        self.emulator.record("bulk_download", shop.domain, "GET", status, "dropped" if fault else "ok")
        return StreamingResponse(
            _file_chunks(job.path, start, stop, dropped=fault is not None),
            status_code=status,
            headers=headers,
            media_type="application/jsonl",
        )

    async def image(self, request: Request) -> Response:
        name = request.path_params["name"]
        hue = int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % 360
        label = html.escape(name.removesuffix(".svg"))
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800" viewBox="0 0 800 800">'
            f'<rect width="800" height="800" fill="hsl({hue},55%,72%)"/>'
            f'<text x="400" y="420" font-family="sans-serif" font-size="64" text-anchor="middle" fill="#333">'
            f"{label}</text></svg>"
        )
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

    # --- control ----------------------------------------------------------------------------------------

    async def control_reset(self, _request: Request) -> Response:
        self.emulator.reset()
        return JSONResponse({"ok": True})

    async def control_requests(self, request: Request) -> Response:
        found = self.emulator.requests(request.query_params.get("route"), request.query_params.get("shop"))
        return JSONResponse([r.__dict__ for r in found])

    async def control_add_shop(self, request: Request) -> Response:
        body = await request.json()
        domain = str(body.get("domain", ""))
        if not SHOP_DOMAIN.match(domain):
            return JSONResponse({"error": "domain must look like name.myshopify.com"}, status_code=400)
        self.emulator.add_shop(
            domain,
            str(body.get("name") or domain),
            product_count=int(body.get("product_count", 10)),
            variants_per_product=body.get("variants_per_product"),
            seed=body.get("seed"),
        )
        return JSONResponse({"ok": True})

    async def control_configure(self, request: Request) -> Response:
        domain = request.path_params["shop"]
        if self.emulator.shop(domain) is None:
            return JSONResponse({"error": "unknown shop"}, status_code=404)
        body = dict(await request.json())
        try:
            if "drain_bucket_seconds" in body:
                self.emulator.drain_bucket(domain, float(body.pop("drain_bucket_seconds")))
            if body.pop("revoke_access_tokens", False):
                self.emulator.revoke_access_tokens(domain)
            self.emulator.configure_shop(domain, **body)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def control_products(self, request: Request) -> Response:
        """Change the shop as a merchant would, then send the webhooks Shopify sends for it.

        Body: {"action": "update", "product_id": gid or number, "title"?, "vendor"?, "status"?,
        "variant"? (position, default 1), "price"?, "sku"?, "barcode"?} | {"action": "delete", "product_id": …}
        | {"action": "create", "title"?} | {"action": "uninstall"} (revokes the app's tokens).
        Answers with the product's gid and the ids of the webhooks scheduled.
        """
        domain = request.path_params["shop"]
        shop = self.emulator.shop(domain)
        if shop is None:
            return JSONResponse({"error": "unknown shop"}, status_code=404)
        try:
            body = dict(await request.json())
            result = self._change_catalog(shop, body, str(request.url_for("image", shop=domain, name=_URL_SLOT)))
        except (ValueError, TypeError, IndexError, KeyError) as error:
            return JSONResponse({"error": f"cannot apply change: {type(error).__name__} {error}"}, status_code=400)
        return JSONResponse(result)

    def _change_catalog(self, shop: EmulatedShop, body: dict[str, Any], image_url: str) -> dict[str, Any]:
        catalog, action = shop.catalog, body.get("action")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.emulator.now()))
        image_url_template = image_url.replace(_URL_SLOT, "{name}")
        if action == "uninstall":
            self.emulator.revoke_access_tokens(shop.domain)
            self.emulator.revoke_refresh_tokens(shop.domain)
            payload = {"id": shop.numeric_id, "name": shop.name, "myshopify_domain": shop.domain}
            return {"webhook_ids": self.emulator.webhooks.send(shop, "APP_UNINSTALLED", payload)}
        if action == "create":
            fields = {"title": str(body["title"])} if body.get("title") else {}
            index = catalog.create_product(now, **fields)
            topic, payload = "PRODUCTS_CREATE", product_payload(catalog, index, image_url_template)
        elif action == "delete":
            index = product_id_of(body["product_id"])
            catalog.delete_product(index)
            topic, payload = "PRODUCTS_DELETE", {"id": PRODUCT_ID_BASE + index + 1}
        elif action == "update":
            index = product_id_of(body["product_id"])
            product_fields = {name: str(body[name]) for name in ("title", "vendor", "status") if name in body}
            catalog.change_product(index, now, **product_fields)
            variant_fields = {name: body[name] for name in ("price", "sku", "barcode") if name in body}
            if "price" in variant_fields:
                variant_fields["price"] = f"{float(variant_fields['price']):.2f}"
            if variant_fields:
                catalog.change_variant(index, int(body.get("variant", 1)), now, **variant_fields)
            topic, payload = "PRODUCTS_UPDATE", product_payload(catalog, index, image_url_template)
        else:
            raise ValueError("action must be create, update, delete or uninstall")
        return {
            "product_id": f"gid://shopify/Product/{PRODUCT_ID_BASE + index + 1}",
            "webhook_ids": self.emulator.webhooks.send(shop, topic, payload),
        }

    async def control_webhooks(self, _request: Request) -> Response:
        """Every delivery attempt so far (webhook id, topic, URL, attempt, status)."""
        return JSONResponse([attempt.__dict__ for attempt in self.emulator.webhooks.attempts])

    async def control_fault(self, request: Request) -> Response:
        domain = request.path_params["shop"]
        if self.emulator.shop(domain) is None:
            return JSONResponse({"error": "unknown shop"}, status_code=404)
        body = await request.json()
        try:
            self.emulator.inject_fault(
                domain,
                str(body.get("route")),
                str(body.get("kind", "status")),
                status=int(body.get("status", 503)),
                times=int(body.get("times", 1)),
                seconds=float(body.get("seconds", 0.0)),
                after_bytes=int(body.get("after_bytes", 0)),
            )
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})


def _file_chunks(path: Any, start: int, stop: int, *, dropped: bool) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = stop - start
        while remaining > 0:
            chunk = handle.read(min(65536, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    if dropped:
        raise ConnectionAbortedError("emulated connection drop")


def _cost_extension(context: QueryContext, requested: int, actual: int | None) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": context.shop.bucket.status(),
        }
    }


def _shopify_validation_error(error: GraphQLError) -> dict[str, Any]:
    """graphql-core's validation messages in the shape and wording Shopify uses."""
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if match := re.match(r"Cannot query field '(\w+)' on type '(\w+)'", error.message):
        field, type_name = match.groups()
        formatted["message"] = f"Field '{field}' doesn't exist on type '{type_name}'"
        formatted["extensions"] = {"code": "undefinedField", "typeName": type_name, "fieldName": field}
    elif match := re.match(r"Unknown argument '(\w+)' on field '\w+\.(\w+)'", error.message):
        argument, field = match.groups()
        formatted["message"] = f"Field '{field}' doesn't accept argument '{argument}'"
        formatted["extensions"] = {
            "code": "argumentNotAccepted",
            "name": field,
            "typeName": "Field",
            "argumentName": argument,
        }
    elif match := re.match(r"Field '(\w+)' argument '(\w+)' of type '[^']+' is required", error.message):
        field, argument = match.groups()
        formatted["message"] = f"Field '{field}' is missing required arguments: {argument}"
        formatted["extensions"] = {
            "code": "missingRequiredArguments",
            "className": "Field",
            "name": field,
            "arguments": argument,
        }
    elif match := re.match(r"Field '(\w+)' of type '([^']+)' must have a selection of subfields", error.message):
        field, type_name = match.groups()
        formatted["message"] = (
            f"Field must have selections (field '{field}' returns {type_name} but has no selections.)"
        )
        formatted["extensions"] = {"code": "selectionMismatch", "nodeName": f"field '{field}'", "typeName": type_name}
    return formatted


def _max_cost_message(cost: int) -> str:
    return (
        f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
        "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
        "cost of a query is calculated.\n\n"
        "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
        "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
    )


def run_graphql(context: QueryContext, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The response payload (always HTTP 200, like Shopify) and an outcome label for the request log."""
    schema = context.emulator.schema
    variables = body.get("variables") or {}
    try:
        document = parse(body["query"])
    except GraphQLError as error:
        location = [{"line": loc.line, "column": loc.column} for loc in error.locations or []]
        return {
            "errors": [{"message": error.message, "locations": location}],
            "extensions": _cost_extension(context, 0, 0),
        }, "invalid"
    errors = validate(schema, document)
    if errors:
        return {
            "errors": [_shopify_validation_error(e) for e in errors],
            "extensions": _cost_extension(context, 0, 0),
        }, "invalid"
    operation = get_operation_ast(document, body.get("operationName"))
    if operation is None:
        return {
            "errors": [{"message": "An operation name is required"}],
            "extensions": _cost_extension(context, 0, 0),
        }, "invalid"
    try:
        requested = requested_cost(schema, document, operation, variables)
    except CostError as error:
        node_location = error.node.loc
        payload: dict[str, Any] = {"message": str(error)}
        if node_location is not None:
            token = node_location.start_token
            payload["locations"] = [{"line": token.line, "column": token.column}]
        return {"errors": [payload], "extensions": _cost_extension(context, 0, 0)}, "invalid"
    if requested > MAX_QUERY_COST:
        error_payload = {
            "message": _max_cost_message(requested),
            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST},
        }
        return {"errors": [error_payload], "extensions": _cost_extension(context, requested, None)}, "max_cost"
    if not context.shop.bucket.try_spend(requested):
        throttled = {
            "message": "Throttled",
            "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
        }
        return {"errors": [throttled], "extensions": _cost_extension(context, requested, None)}, "throttled"
    root: Any = MutationView(context) if operation.operation.value == "mutation" else QueryRootView(context)
    result = execute_sync(
        schema, document, root_value=root, context_value=context, variable_values=variables,
        operation_name=body.get("operationName"), field_resolver=resolve_field, type_resolver=resolve_type,
    )  # fmt: skip
    actual = actual_cost(schema, document, operation, variables, result.data)
    context.shop.bucket.refund(requested - actual)
    payload = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    payload["extensions"] = _cost_extension(context, requested, actual)
    return payload, "errors" if result.errors else "ok"


def emulator_app(emulator: ShopifyEmulator) -> Starlette:
    handlers = _Handlers(emulator)
    routes = [
        Route("/_control/reset", handlers.control_reset, methods=["POST"]),
        Route("/_control/requests", handlers.control_requests, methods=["GET"]),
        Route("/_control/shops", handlers.control_add_shop, methods=["POST"]),
        Route("/_control/shops/{shop}", handlers.control_configure, methods=["POST"]),
        Route("/_control/shops/{shop}/faults", handlers.control_fault, methods=["POST"]),
        Route("/_control/shops/{shop}/products", handlers.control_products, methods=["POST"]),
        Route("/_control/webhooks", handlers.control_webhooks, methods=["GET"]),
        Route("/{shop}/admin/oauth/authorize", handlers.authorize, methods=["GET", "POST"], name="authorize"),
        Route("/{shop}/admin/oauth/access_token", handlers.access_token, methods=["POST"], name="access_token"),
        Route("/{shop}/admin/api/{version}/graphql.json", handlers.graphql, methods=["POST"], name="graphql"),
        Route("/{shop}/bulk/{token}.jsonl", handlers.bulk_download, methods=["GET"], name="bulk_download"),
        Route("/{shop}/cdn/images/{name}", handlers.image, methods=["GET"], name="image"),
    ]
    app = Starlette(routes=routes)
    app.state.emulator = emulator
    return app
