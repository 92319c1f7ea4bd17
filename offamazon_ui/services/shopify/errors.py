"""Typed failures of the Shopify connection, each carrying a message a merchant can act on.

`message` is shown as it is (it never contains a token, code or secret); `field`
names the form field it belongs next to, or is None for a page-level notice;
`code` is a stable machine-readable reason for the UI and for tests.
"""

from __future__ import annotations

from typing import Any

TRY_AGAIN = "Please try connecting again."


class ShopifyError(Exception):
    code = "shopify_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidShopDomain(ShopifyError):
    code = "invalid_shop"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="shop")


class ShopAlreadyConnected(ShopifyError):
    code = "shop_taken"

    def __init__(self, shop_domain: str) -> None:
        super().__init__(
            f"{shop_domain} is already connected to another Off-Amazon account. "
            "Sign in with that account, or disconnect the store there first.",
            field="shop",
        )


class CallbackRejected(ShopifyError):
    """The redirect back from Shopify failed a security check; nothing was stored."""


class InstallFailed(ShopifyError):
    """Shopify refused to finish the install (bad code, app settings, missing permissions)."""


class ReconnectRequired(ShopifyError):
    """The stored access can no longer be used; the merchant has to go through Connect Shopify again."""

    code = "reconnect_required"


class ShopUnavailable(ShopifyError):
    """The store itself cannot be used right now (frozen for billing, locked, or gone)."""


def shop_status_error(status: int, shop_domain: str) -> ShopUnavailable | None:
    """Shopify's answers meaning the store itself is unusable, the same on every endpoint."""
    if status == 402:
        return ShopUnavailable(
            f"{shop_domain} is frozen by Shopify, usually because of an unpaid bill. "
            "Settle it in your Shopify admin, then connect again.",
            code="shop_frozen",
        )
    if status == 423:
        return ShopUnavailable(
            f"{shop_domain} is locked by Shopify. Contact Shopify support to unlock it, then connect again.",
            code="shop_locked",
        )
    if status == 404:
        return ShopUnavailable(
            f"We could not find a Shopify store at {shop_domain}. Check the address and try again.",
            field="shop",
            code="shop_not_found",
        )
    return None


class ShopifyUnreachable(ShopifyError):
    """Shopify kept failing or throttling after every retry; waiting is the remedy."""

    code = "shopify_unreachable"


class ShopifyAccessDenied(ShopifyError):
    code = "access_denied"


class GraphQLQueryError(ShopifyError):
    """Shopify rejected the query itself (a bug on our side, not the merchant's)."""

    code = "graphql_error"

    def __init__(self, errors: list[dict[str, Any]], message: str | None = None) -> None:
        super().__init__(message or "Shopify could not process our request. Please try again later or contact support.")
        self.errors = errors

    def __str__(self) -> str:
        details = "; ".join(str(error.get("message", error)) for error in self.errors)
        return f"{self.message} [{details}]"


class QueryCostExceeded(GraphQLQueryError):
    code = "max_cost_exceeded"

    def __init__(self, errors: list[dict[str, Any]], cost: int | None, max_cost: int | None) -> None:
        super().__init__(errors)
        self.cost = cost
        self.max_cost = max_cost


class ShopifyUserErrors(ShopifyError):
    """A mutation answered with userErrors instead of doing the work."""

    code = "user_errors"

    def __init__(self, user_errors: list[dict[str, Any]]) -> None:
        text = "; ".join(str(error.get("message")) for error in user_errors)
        super().__init__(f"Shopify refused the request: {text}")
        self.user_errors = user_errors


class BulkOperationInProgress(ShopifyUserErrors):
    code = "bulk_operation_in_progress"


class BulkOperationTimedOut(ShopifyError):
    code = "bulk_operation_timed_out"

    def __init__(self) -> None:
        super().__init__("Shopify is taking unusually long to export your products. Please check back later.")


class BulkOperationFailed(ShopifyError):
    code = "bulk_operation_failed"

    def __init__(self, status: str, error_code: str | None) -> None:
        reason = f" ({error_code.lower().replace('_', ' ')})" if error_code else ""
        super().__init__(
            f"Shopify could not export the products: the export ended as {status.lower()}{reason}. Try again."
        )
        self.status = status
        self.error_code = error_code
