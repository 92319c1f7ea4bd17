"""Check the three Connect Amazon fields before anything is sent to Amazon."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from offamazon_ui.services.amazon.marketplaces import Marketplace, find_marketplace
from offamazon_ui.services.amazon.problems import (
    MARKETPLACE_FIELD,
    REFRESH_TOKEN_FIELD,
    SELLER_FIELD,
    AmazonProblem,
    invalid_input,
)

# Amazon publishes no format; every known merchant token is "A" plus uppercase
# letters and digits (usually 14 characters), so accept a lenient range.
SELLER_ID_PATTERN = re.compile(r"^A[A-Z0-9]{9,19}$")
REFRESH_TOKEN_PREFIX = "Atzr|"  # noqa: S105  a format marker, not a secret
MAX_REFRESH_TOKEN_BYTES = 2048
_PRINTABLE_NO_SPACE = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class AmazonCredentials:
    marketplace: Marketplace
    seller_id: str
    refresh_token: str = field(repr=False)


def validate_credentials(
    marketplace_id: str, seller_id: str, refresh_token: str
) -> AmazonCredentials | list[AmazonProblem]:
    """Normalised credentials, or one problem per bad field (all fields are checked)."""
    problems: list[AmazonProblem] = []
    marketplace = find_marketplace(marketplace_id)
    if not marketplace_id.strip():
        problems.append(invalid_input(MARKETPLACE_FIELD, "Choose the Amazon marketplace you sell on."))
    elif marketplace is None:
        problems.append(
            invalid_input(
                MARKETPLACE_FIELD,
                f"{marketplace_id.strip()[:40]!r} is not an Amazon marketplace ID. "
                "Pick your marketplace from the list.",
            )
        )

    seller = seller_id.strip().upper()
    if not seller:
        problems.append(
            invalid_input(
                SELLER_FIELD, "Enter your Seller ID (Seller Central > Settings > Account Info > Merchant Token)."
            )
        )
    elif not SELLER_ID_PATTERN.match(seller):
        problems.append(
            invalid_input(
                SELLER_FIELD,
                "This Seller ID is invalid: it starts with A followed by 9 to 19 letters or digits, like "
                "A2VYDBAL8BMVQK. Copy it from Seller Central > Settings > Account Info > Merchant Token.",
            )
        )

    token = refresh_token.strip()
    token_problem = _refresh_token_problem(token)
    if token_problem:
        problems.append(invalid_input(REFRESH_TOKEN_FIELD, token_problem))

    if problems or marketplace is None:
        return problems
    return AmazonCredentials(marketplace=marketplace, seller_id=seller, refresh_token=token)


def _refresh_token_problem(token: str) -> str | None:
    # The messages never repeat the token: it is a secret.
    if not token:
        return "Paste the refresh token Amazon gave you when you authorized the app."
    if not token.startswith(REFRESH_TOKEN_PREFIX):
        return 'This refresh token is invalid: Amazon refresh tokens start with "Atzr|". Copy the whole token again.'
    if len(token.encode()) > MAX_REFRESH_TOKEN_BYTES:
        return (
            f"This refresh token is too long: Amazon refresh tokens have at most {MAX_REFRESH_TOKEN_BYTES} "
            "characters. Check that you copied only the token."
        )
    if not _PRINTABLE_NO_SPACE.match(token):
        return "This refresh token contains spaces or line breaks. Copy it again as one piece."
    return None
