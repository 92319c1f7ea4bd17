"""Unit tests: marketplace table, form validation, retry policy and Amazon error parsing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from offamazon_ui.config import DEFAULT_MARKETPLACE_ID, load_settings
from offamazon_ui.services.amazon import (
    MARKETPLACES,
    REGION_ENDPOINTS,
    AmazonCredentials,
    ProblemCode,
    RetryPolicy,
    find_marketplace,
    marketplace_options,
    validate_credentials,
)
from offamazon_ui.services.amazon.marketplaces import spapi_base_url
from offamazon_ui.services.amazon.retry import throttle_wait
from offamazon_ui.services.amazon.spapi import parse_errors, parse_participations

GOOD_TOKEN = "Atzr|IwEBIexample-refresh-token"


# ---- marketplaces


def test_table_has_every_documented_marketplace_once() -> None:
    ids = [m.id for m in MARKETPLACES]
    assert len(ids) == 23
    assert len(set(ids)) == 23
    assert {m.region for m in MARKETPLACES} == set(REGION_ENDPOINTS) == {"NA", "EU", "FE"}


@pytest.mark.parametrize(
    ("marketplace_id", "country", "region", "currency", "domain"),
    [
        ("ATVPDKIKX0DER", "United States", "NA", "USD", "amazon.com"),
        ("A2EUQ1WTGCTBG2", "Canada", "NA", "CAD", "amazon.ca"),
        ("A2Q3Y263D00KWC", "Brazil", "NA", "BRL", "amazon.com.br"),
        ("A1F83G8C2ARO7P", "United Kingdom", "EU", "GBP", "amazon.co.uk"),
        ("A1PA6795UKMFR9", "Germany", "EU", "EUR", "amazon.de"),
        ("A21TJRUUN4KGV", "India", "EU", "INR", "amazon.in"),
        ("A2VIGQ35RCS4UG", "United Arab Emirates", "EU", "AED", "amazon.ae"),
        ("AE08WJ6YKNBMC", "South Africa", "EU", "ZAR", "amazon.co.za"),
        ("A1VC38T7YXB528", "Japan", "FE", "JPY", "amazon.co.jp"),
        ("A39IBJ37TRP1C6", "Australia", "FE", "AUD", "amazon.com.au"),
        ("A19VAU5U5O7RUS", "Singapore", "FE", "SGD", "amazon.sg"),
    ],
)
def test_find_marketplace(marketplace_id: str, country: str, region: str, currency: str, domain: str) -> None:
    marketplace = find_marketplace(marketplace_id)
    assert marketplace is not None
    assert (marketplace.country, marketplace.region, marketplace.currency, marketplace.domain) == (
        country,
        region,
        currency,
        domain,
    )


def test_find_marketplace_ignores_case_and_spaces_and_rejects_unknown_ids() -> None:
    found = find_marketplace("  atvpdkikx0der ")
    assert found is not None and found.id == "ATVPDKIKX0DER"
    assert find_marketplace("A2ZV50J4W1RKNI") is None  # a "Non-Amazon" shadow marketplace
    assert find_marketplace("") is None


def test_default_marketplace_setting_is_in_the_table() -> None:
    assert find_marketplace(DEFAULT_MARKETPLACE_ID) is not None


def test_picker_shows_country_and_region_for_every_marketplace() -> None:
    options = marketplace_options()
    assert [option["value"] for option in options] == [m.id for m in MARKETPLACES]
    us = next(option for option in options if option["value"] == "ATVPDKIKX0DER")
    assert us == {
        "value": "ATVPDKIKX0DER",
        "label": "United States (amazon.com) · North America",
        "country": "United States",
        "region": "North America",
    }
    assert all(option["country"] in option["label"] and option["region"] in option["label"] for option in options)


def test_spapi_base_url_is_regional_unless_overridden(tmp_path: Path) -> None:
    env = {"OFFAMAZON_MODE": "live", "OFFAMAZON_SECRET_KEY": "k" * 40, "OFFAMAZON_DATA_DIR": str(tmp_path)}
    env |= {"SHOPIFY_API_KEY": "a", "SHOPIFY_API_SECRET": "b", "AMAZON_LWA_CLIENT_ID": "c"}
    env |= {"AMAZON_LWA_CLIENT_SECRET": "d"}
    live = load_settings(env)
    assert spapi_base_url("EU", live) == "https://sellingpartnerapi-eu.amazon.com"
    assert spapi_base_url("FE", live) == "https://sellingpartnerapi-fe.amazon.com"
    overridden = load_settings(env | {"OFFAMAZON_SPAPI_URL": "http://127.0.0.1:9/spapi/"})
    assert spapi_base_url("EU", overridden) == spapi_base_url("NA", overridden) == "http://127.0.0.1:9/spapi"


# ---- validation


def test_valid_credentials_are_normalised() -> None:
    result = validate_credentials(" atvpdkikx0der ", "  a2vydbal8bmvqk ", f"  {GOOD_TOKEN}\n")
    assert isinstance(result, AmazonCredentials)
    assert result.marketplace.id == "ATVPDKIKX0DER"
    assert result.seller_id == "A2VYDBAL8BMVQK"
    assert result.refresh_token == GOOD_TOKEN
    assert GOOD_TOKEN not in repr(result)


@pytest.mark.parametrize(
    ("marketplace_id", "seller_id", "refresh_token", "field", "fragment"),
    [
        ("", "A2VYDBAL8BMVQK", GOOD_TOKEN, "marketplace_id", "Choose the Amazon marketplace"),
        ("ATVPDKIKX0DEX", "A2VYDBAL8BMVQK", GOOD_TOKEN, "marketplace_id", "is not an Amazon marketplace ID"),
        ("A2ZV50J4W1RKNI", "A2VYDBAL8BMVQK", GOOD_TOKEN, "marketplace_id", "is not an Amazon marketplace ID"),
        ("ATVPDKIKX0DER", "", GOOD_TOKEN, "seller_id", "Enter your Seller ID"),
        ("ATVPDKIKX0DER", "B2VYDBAL8BMVQK", GOOD_TOKEN, "seller_id", "Seller ID is invalid"),
        ("ATVPDKIKX0DER", "A12345678", GOOD_TOKEN, "seller_id", "Seller ID is invalid"),  # 8 after the A
        ("ATVPDKIKX0DER", "A" + "B" * 20, GOOD_TOKEN, "seller_id", "Seller ID is invalid"),  # 20 after the A
        ("ATVPDKIKX0DER", "A2VYD-AL8BMVQK", GOOD_TOKEN, "seller_id", "Seller ID is invalid"),
        ("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", "", "refresh_token", "Paste the refresh token"),
        ("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", "   ", "refresh_token", "Paste the refresh token"),
        ("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", "Atza|IwEBIaccess", "refresh_token", 'start with "Atzr|"'),
        ("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", "atzr|IwEBIlower", "refresh_token", 'start with "Atzr|"'),
        ("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", "Atzr|" + "x" * 2044, "refresh_token", "too long"),
        ("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", "Atzr|IwEB I", "refresh_token", "spaces or line breaks"),
        ("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", "Atzr|IwEB\nI", "refresh_token", "spaces or line breaks"),
    ],
)
def test_each_bad_field_is_named(
    marketplace_id: str, seller_id: str, refresh_token: str, field: str, fragment: str
) -> None:
    result = validate_credentials(marketplace_id, seller_id, refresh_token)
    assert isinstance(result, list)
    assert [(problem.field, problem.code) for problem in result] == [(field, ProblemCode.INVALID_INPUT)]
    assert fragment in result[0].message
    if refresh_token.strip():
        assert refresh_token.strip() not in result[0].message


@pytest.mark.parametrize(
    "seller_id", ["A2VYDBAL8BMVQK", "A123456789", "A" + "9" * 19, "A1HGLY0OQBKE5U", "a3fhexampleyws"]
)
def test_seller_id_boundaries_accepted(seller_id: str) -> None:
    assert isinstance(validate_credentials("ATVPDKIKX0DER", seller_id, GOOD_TOKEN), AmazonCredentials)


def test_refresh_token_of_exactly_2048_bytes_is_accepted() -> None:
    token = "Atzr|" + "x" * 2043
    result = validate_credentials("ATVPDKIKX0DER", "A2VYDBAL8BMVQK", token)
    assert isinstance(result, AmazonCredentials)


def test_every_bad_field_is_reported_at_once() -> None:
    result = validate_credentials("nope", "x", "y")
    assert isinstance(result, list)
    assert [problem.field for problem in result] == ["marketplace_id", "seller_id", "refresh_token"]


# ---- retry policy and throttling headers


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=1.5)
    assert [policy.backoff(attempt) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, 1.5]


def test_retry_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-amzn-RateLimit-Limit": "0.016"}, 62.5),
        ({"x-amzn-RateLimit-Limit": "5.0"}, 0.2),
        ({"Retry-After": "3", "x-amzn-RateLimit-Limit": "0.016"}, 3.0),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, 0.0),
        ({"x-amzn-RateLimit-Limit": "fast"}, None),
        ({"x-amzn-RateLimit-Limit": "0"}, None),
        ({}, None),
    ],
)
def test_throttle_wait(headers: dict[str, str], expected: float | None) -> None:
    assert throttle_wait(httpx.Response(429, headers=headers)) == expected


# ---- SP-API payload parsing (robust against shapes Amazon should not send)


@pytest.mark.parametrize(
    ("response", "codes"),
    [
        (
            httpx.Response(403, json={"errors": [{"code": "Unauthorized", "message": "denied", "details": ""}]}),
            ["Unauthorized"],
        ),
        (
            httpx.Response(403, json={"errors": [{"message": "m", "code": "MissingAuthenticationToken"}]}),
            ["MissingAuthenticationToken"],
        ),
        (httpx.Response(400, json={"errors": [{"code": 7}, "junk", {}]}), ["", ""]),
        (httpx.Response(500, text="<html>oops</html>"), []),
        (httpx.Response(500, json={"errors": "none"}), []),
        (httpx.Response(500, json=["errors"]), []),
    ],
)
def test_parse_errors(response: httpx.Response, codes: list[str]) -> None:
    assert [error.code for error in parse_errors(response)] == codes


def test_parse_participations_skips_malformed_entries() -> None:
    body = {
        "payload": [
            {"marketplace": {"id": "ATVPDKIKX0DER"}, "participation": {"isParticipating": True}, "storeName": "S"},
            {"marketplace": {"id": "A2EUQ1WTGCTBG2"}, "participation": {"isParticipating": "true"}},
            {"marketplace": {}, "participation": {"isParticipating": True}},
            "junk",
        ]
    }
    parsed = parse_participations(body)
    assert parsed is not None
    assert [(p.marketplace_id, p.is_participating, p.store_name) for p in parsed] == [
        ("ATVPDKIKX0DER", True, "S"),
        ("A2EUQ1WTGCTBG2", False, ""),
    ]


@pytest.mark.parametrize("body", [{}, {"payload": {}}, [], "text", None])
def test_parse_participations_rejects_bodies_without_a_payload_list(body: object) -> None:
    assert parse_participations(body) is None
