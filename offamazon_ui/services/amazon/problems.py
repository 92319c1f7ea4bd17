"""What can go wrong while connecting Amazon, worded for the merchant.

Every problem names the form field it belongs next to ("marketplace_id",
"seller_id", "refresh_token") or None when it concerns the whole form.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from offamazon_ui.services.amazon.marketplaces import Marketplace

SUPPORT_EMAIL = "support@cedcommerce.com"

MARKETPLACE_FIELD = "marketplace_id"
SELLER_FIELD = "seller_id"
REFRESH_TOKEN_FIELD = "refresh_token"  # noqa: S105  a form field name


class ProblemCode(StrEnum):
    INVALID_INPUT = "invalid_input"
    REFRESH_TOKEN_REJECTED = "refresh_token_rejected"  # noqa: S105  a problem code
    APP_CREDENTIALS_REJECTED = "app_credentials_rejected"
    REGION_DENIED = "region_denied"
    MARKETPLACE_NOT_IN_ACCOUNT = "marketplace_not_in_account"
    MARKETPLACE_NOT_PARTICIPATING = "marketplace_not_participating"
    SELLER_MISMATCH = "seller_mismatch"
    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    UNEXPECTED_RESPONSE = "unexpected_response"
    STORAGE_FAILED = "storage_failed"


@dataclass(frozen=True)
class AmazonProblem:
    code: ProblemCode
    field: str | None
    message: str
    retryable: bool = False
    retry_after_seconds: float | None = None


class AmazonCheckFailed(Exception):
    """Raised inside the verification steps; verify_and_connect turns it into a result."""

    def __init__(self, problem: AmazonProblem) -> None:
        super().__init__(problem.code.value)
        self.problem = problem


def invalid_input(field: str, message: str) -> AmazonProblem:
    return AmazonProblem(ProblemCode.INVALID_INPUT, field, message)


def refresh_token_rejected() -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.REFRESH_TOKEN_REJECTED,
        REFRESH_TOKEN_FIELD,
        "Amazon does not recognise this refresh token, or it has been revoked. "
        "Authorize the app again in Seller Central and paste the new refresh token.",
    )


def app_credentials_rejected() -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.APP_CREDENTIALS_REJECTED,
        None,
        f"We could not connect to Amazon because of a problem on our side. Please contact {SUPPORT_EMAIL}.",
    )


def region_denied(marketplace: Marketplace) -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.REGION_DENIED,
        REFRESH_TOKEN_FIELD,
        f"Amazon refused this refresh token for {marketplace.country}. Make sure the token was created for "
        f"the account that sells on {marketplace.domain}, then paste it again.",
    )


def marketplace_not_in_account(marketplace: Marketplace, sells_on: list[Marketplace]) -> AmazonProblem:
    where = ", ".join(m.country for m in sells_on)
    hint = f" This account sells on: {where}." if where else ""
    return AmazonProblem(
        ProblemCode.MARKETPLACE_NOT_IN_ACCOUNT,
        MARKETPLACE_FIELD,
        f"This Amazon account does not sell on {marketplace.domain} ({marketplace.country}).{hint} "
        "Pick one of your marketplaces.",
    )


def marketplace_not_participating(marketplace: Marketplace) -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.MARKETPLACE_NOT_PARTICIPATING,
        MARKETPLACE_FIELD,
        f"Your Amazon account is not active on {marketplace.domain} ({marketplace.country}). "
        "Pick a marketplace where you sell, or activate this one in Seller Central.",
    )


def seller_mismatch() -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.SELLER_MISMATCH,
        SELLER_FIELD,
        "This Seller ID does not belong to the Amazon account of this refresh token. Copy your Merchant Token "
        "from Seller Central > Settings > Account Info.",
    )


def throttled(retry_after_seconds: float | None) -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.THROTTLED,
        None,
        "Amazon is busy. Try again in a minute.",
        retryable=True,
        retry_after_seconds=retry_after_seconds,
    )


def unavailable() -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.UNAVAILABLE,
        None,
        "Amazon is not answering right now. Try again in a few minutes.",
        retryable=True,
    )


def unexpected_response() -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.UNEXPECTED_RESPONSE,
        None,
        f"Amazon sent an answer we did not understand. Try again in a few minutes; if it keeps happening, "
        f"contact {SUPPORT_EMAIL}.",
        retryable=True,
    )


def storage_failed() -> AmazonProblem:
    return AmazonProblem(
        ProblemCode.STORAGE_FAILED,
        None,
        "Your Amazon details are correct, but we could not save them. Try again in a minute.",
        retryable=True,
    )
