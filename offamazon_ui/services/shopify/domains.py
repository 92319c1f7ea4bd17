"""Turn whatever a merchant pastes into the canonical `store.myshopify.com` domain.

Every URL we call is built from this domain, so it is the guard against token
theft through a crafted shop name (Shopify's WEAK_SHOP_VALIDATION check): the
result always matches an anchored pattern. Being friendly is safe on top of that:
a bare store name gets `.myshopify.com` appended, and a copied admin address
(`admin.shopify.com/store/NAME` or `NAME.myshopify.com/admin/...`) is reduced to
the domain. Ports, paths, queries and fragments are dropped; credentials in the
address (`user@host`) are refused because they only serve to disguise a host.
"""

from __future__ import annotations

import re

from offamazon_ui.services.shopify.errors import InvalidShopDomain

MAX_SHOP_INPUT_LENGTH = 255
SHOP_DOMAIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_STORE_HANDLE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
_ADMIN_HOST = "admin.shopify.com"
_PORT = re.compile(r":\d{1,5}$")

EXAMPLE = "your-store.myshopify.com"


def is_shop_domain(value: str) -> bool:
    """True only for an already canonical domain (use on values Shopify sends back)."""
    return len(value) <= MAX_SHOP_INPUT_LENGTH and SHOP_DOMAIN_PATTERN.fullmatch(value) is not None


def normalize_shop_domain(raw: str) -> str:
    value = (raw or "").strip().lower()
    if not value:
        raise InvalidShopDomain(f"Enter your Shopify store address, for example {EXAMPLE}.")
    if len(value) > MAX_SHOP_INPUT_LENGTH:
        raise InvalidShopDomain(f"That store address is too long. Enter just the store domain, e.g. {EXAMPLE}.")
    if any(char.isspace() or char == "\\" for char in value) or not value.isascii():
        raise InvalidShopDomain(f"A store address cannot contain spaces or special characters. Use the form {EXAMPLE}.")

    host, path = _split_host_and_path(value)
    if host == _ADMIN_HOST:
        host = _store_from_admin_path(path)
    elif _STORE_HANDLE.fullmatch(host):
        host = f"{host}.myshopify.com"

    if not SHOP_DOMAIN_PATTERN.fullmatch(host):
        if host.endswith(".myshopify.com") or ".myshopify.com." in host:
            raise InvalidShopDomain(f"{host} is not a valid Shopify store address. Use the form {EXAMPLE}.")
        raise InvalidShopDomain(
            f"Use your store's myshopify.com address (e.g. {EXAMPLE}), not a custom domain. "
            "You find it in Shopify admin under Settings > Domains."
        )
    return host


def _split_host_and_path(value: str) -> tuple[str, str]:
    scheme = _SCHEME.match(value)
    if value.startswith("//"):
        rest = value[2:]
    elif "://" in value:
        if scheme is None or scheme.group(1) not in ("http", "https"):
            raise InvalidShopDomain(f"Enter a web address starting with https://, or just {EXAMPLE}.")
        rest = value.split("://", 1)[1]
    elif scheme is not None and not re.match(r"^[a-z0-9.-]+:\d", value):
        # "javascript:…", "data:…", "mailto:…" – but not "store.myshopify.com:443".
        raise InvalidShopDomain(f"Enter a web address starting with https://, or just {EXAMPLE}.")
    else:
        rest = value
    authority, path = _authority_and_path(rest)
    if "@" in authority:
        raise InvalidShopDomain(f"A store address cannot contain a user name or '@'. Enter just {EXAMPLE}.")
    host = _PORT.sub("", authority).rstrip(".")
    return host, path


def _authority_and_path(rest: str) -> tuple[str, str]:
    match = re.search(r"[/?#]", rest)
    if match is None:
        return rest, ""
    return rest[: match.start()], rest[match.start() :]


def _store_from_admin_path(path: str) -> str:
    match = re.match(r"^/store/([^/?#]+)", path)
    if match is None or not _STORE_HANDLE.fullmatch(match.group(1)):
        raise InvalidShopDomain(f"Copy the address from your store admin, or enter the store domain, e.g. {EXAMPLE}.")
    return f"{match.group(1)}.myshopify.com"
