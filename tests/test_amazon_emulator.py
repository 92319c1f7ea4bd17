"""The Amazon emulator speaks LWA and SP-API as Amazon does (bodies, statuses, headers, rate limits)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from offamazon_ui.sandbox.amazon import (
    DEMO_CREDENTIALS,
    DEMO_SELLERS,
    AmazonEmulator,
    DemoSeller,
    build_amazon_emulator,
)
from offamazon_ui.services.amazon import AmazonCredentials, find_marketplace, validate_credentials
from tests.servers import serve

CLIENT_ID = "amzn1.application-oa2-client.emulatortest"
CLIENT_SECRET = "emulator-test-secret"
NA_SELLER, EU_SELLER = DEMO_SELLERS[0], DEMO_SELLERS[1]
MODEL = json.loads((Path(__file__).parent / "data" / "amazon-sellers-api-v1.json").read_text())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    emulator: AmazonEmulator
    client: httpx.Client
    clock: FakeClock

    def token(self, refresh_token: str = NA_SELLER.refresh_token) -> str:
        response = self.client.post("/auth/o2/token", data=lwa_form(refresh_token))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def participations(self, access_token: str | None) -> httpx.Response:
        headers = {"x-amz-access-token": access_token} if access_token else {}
        return self.client.get("/spapi/sellers/v1/marketplaceParticipations", headers=headers)

    def listings(self, access_token: str, seller_id: str, marketplace_ids: str = "ATVPDKIKX0DER") -> httpx.Response:
        return self.client.get(
            f"/spapi/listings/2021-08-01/items/{seller_id}",
            params={"marketplaceIds": marketplace_ids, "pageSize": "1"},
            headers={"x-amz-access-token": access_token},
        )


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    clock = FakeClock()
    app = build_amazon_emulator(CLIENT_ID, CLIENT_SECRET, clock=clock)
    with serve(app) as base, httpx.Client(base_url=base, timeout=5) as client:
        yield Served(app.state.emulator, client, clock)


@pytest.fixture
def amazon(served: Served) -> Served:
    """One server per module; each test starts from a clean emulator state and clock."""
    served.emulator.reset()
    served.clock.now = 1000.0
    return served


def lwa_form(refresh_token: str = NA_SELLER.refresh_token, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value}


def model_validator(definition: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": MODEL["definitions"]})


def error_body(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    model_validator("ErrorList").validate(body["errors"])
    return dict(body["errors"][0])


# ---- Login with Amazon


def test_token_exchange_success_form(amazon: Served) -> None:
    response = amazon.client.post("/auth/o2/token", data=lwa_form())
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["x-amzn-requestid"]
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"] == NA_SELLER.refresh_token
    assert body["access_token"].startswith("Atza|")
    assert 350 <= len(body["access_token"]) <= 2048


def test_token_exchange_accepts_json_bodies(amazon: Served) -> None:
    response = amazon.client.post("/auth/o2/token", json=lwa_form())
    assert response.status_code == 200
    assert response.json()["access_token"].startswith("Atza|")


INVALID_GRANT = (
    400,
    "invalid_grant",
    "The request has an invalid grant parameter : refresh_token. User may have revoked or didn't grant the permission.",
)


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (lwa_form("Atzr|unknown"), INVALID_GRANT),
        (lwa_form(client_secret="wrong"), (401, "invalid_client", "Client authentication failed")),
        (
            lwa_form(client_id="amzn1.application-oa2-client.other"),
            (401, "invalid_client", "Client authentication failed"),
        ),
        (
            lwa_form(refresh_token=""),
            (400, "invalid_request", "The request is missing a required parameter : refresh_token"),
        ),
        (
            lwa_form(grant_type=""),
            (400, "invalid_request", "The request is missing a required parameter : grant_type"),
        ),
        (
            lwa_form(grant_type="password"),
            (
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server",
            ),
        ),
    ],
)
def test_token_exchange_errors_use_amazons_bodies(
    amazon: Served, form: dict[str, str], expected: tuple[int, str, str]
) -> None:
    response = amazon.client.post("/auth/o2/token", data=form)
    body = response.json()
    assert (response.status_code, body["error"], body["error_description"]) == expected
    assert body["request_id"] == response.headers["x-amzn-requestid"]


def test_token_bound_to_another_app_is_unauthorized_client(amazon: Served) -> None:
    amazon.emulator.add_seller(
        DemoSeller(
            seller_id="A9OTHERAPPSELLER",
            refresh_token="Atzr|IwEBIotherapp",
            participations=NA_SELLER.participations,
            client_id="amzn1.application-oa2-client.someoneelse",
        )
    )
    response = amazon.client.post("/auth/o2/token", data=lwa_form("Atzr|IwEBIotherapp"))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert response.json()["error_description"] == "Not authorized for requested operation"


def test_revoked_refresh_token_is_invalid_grant_and_its_access_tokens_stop_working(amazon: Served) -> None:
    access_token = amazon.token()
    amazon.emulator.revoke(NA_SELLER.refresh_token)
    response = amazon.client.post("/auth/o2/token", data=lwa_form())
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    assert amazon.participations(access_token).status_code == 403


# ---- SP-API: getMarketplaceParticipations


def test_participations_match_amazons_model(amazon: Served) -> None:
    response = amazon.participations(amazon.token())
    assert response.status_code == 200
    assert response.headers["x-amzn-ratelimit-limit"] == "0.016"
    assert response.headers["x-amzn-requestid"]
    body = response.json()
    model_validator("GetMarketplaceParticipationsResponse").validate(body)
    by_id = {entry["marketplace"]["id"]: entry for entry in body["payload"]}
    assert by_id["ATVPDKIKX0DER"]["storeName"] == "Demo Outfitters US"
    assert by_id["ATVPDKIKX0DER"]["marketplace"]["domainName"] == "www.amazon.com"
    assert by_id["A2EUQ1WTGCTBG2"]["participation"]["isParticipating"] is True
    assert by_id["A1AM78C64UM0Y8"]["participation"]["isParticipating"] is False
    assert "A2ZV50J4W1RKNI" in by_id  # real accounts also list the "Non-Amazon" marketplace


def test_eu_seller_participations(amazon: Served) -> None:
    body = amazon.participations(amazon.token(EU_SELLER.refresh_token)).json()
    model_validator("GetMarketplaceParticipationsResponse").validate(body)
    countries = {entry["marketplace"]["countryCode"] for entry in body["payload"]}
    assert {"GB", "DE", "FR"} <= countries
    assert "US" not in countries


def test_endpoint_without_the_granted_role_is_403_unauthorized(amazon: Served) -> None:
    amazon.emulator.add_seller(
        DemoSeller(
            seller_id="A9NOSELLERSROLE",
            refresh_token="Atzr|IwEBInorole",
            participations=NA_SELLER.participations,
            denied_endpoints=frozenset({"sellers"}),
        )
    )
    token = amazon.token("Atzr|IwEBInorole")
    response = amazon.participations(token)
    assert response.status_code == 403
    assert error_body(response)["code"] == "Unauthorized"
    assert amazon.listings(token, "A9NOSELLERSROLE").status_code == 200


def test_missing_access_token_is_403_missing_authentication_token(amazon: Served) -> None:
    response = amazon.participations(None)
    assert response.status_code == 403
    assert error_body(response) == {
        "message": "Access to requested resource is denied.",
        "code": "MissingAuthenticationToken",
    }
    assert response.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert response.headers["x-amzn-requestid"]
    assert "x-amzn-ratelimit-limit" not in response.headers


@pytest.mark.parametrize("expire", [False, True])
def test_bad_or_expired_access_token_is_403_unauthorized(amazon: Served, expire: bool) -> None:
    if expire:
        token = amazon.token()
        amazon.clock.now += 3601
    else:
        token = "Atza|" + "x" * 400
    response = amazon.participations(token)
    assert response.status_code == 403
    assert error_body(response) == {
        "code": "Unauthorized",
        "message": "Access to requested resource is denied.",
        "details": "The access token you provided is revoked, malformed or invalid.",
    }
    assert response.headers["x-amzn-errortype"] == "AccessDeniedException"


def test_token_bucket_allows_a_burst_of_15_then_one_per_62_5_seconds(amazon: Served) -> None:
    token = amazon.token()
    assert [amazon.participations(token).status_code for _ in range(15)] == [200] * 15
    throttled = amazon.participations(token)
    assert throttled.status_code == 429
    assert throttled.headers["x-amzn-ratelimit-limit"] == "0.016"
    assert error_body(throttled) == {
        "code": "QuotaExceeded",
        "message": "You exceeded your quota for the requested resource.",
        "details": "",
    }
    amazon.clock.now += 62.5
    assert amazon.participations(token).status_code == 200
    assert amazon.participations(token).status_code == 429
    # Quotas are per seller and app: another seller still has its full burst.
    assert amazon.participations(amazon.token(EU_SELLER.refresh_token)).status_code == 200


# ---- SP-API: searchListingsItems


def test_listings_for_the_tokens_own_seller(amazon: Served) -> None:
    response = amazon.listings(amazon.token(), NA_SELLER.seller_id)
    assert response.status_code == 200
    assert response.headers["x-amzn-ratelimit-limit"] == "5"
    body = response.json()
    assert body["numberOfResults"] == len(NA_SELLER.skus)
    assert len(body["items"]) == 1  # pageSize=1
    assert body["items"][0]["summaries"][0]["marketplaceId"] == "ATVPDKIKX0DER"


def test_listings_reject_an_unknown_seller_id_with_invalid_input(amazon: Served) -> None:
    response = amazon.listings(amazon.token(), "A9NOSUCHSELLER")
    assert response.status_code == 400
    assert error_body(response)["message"] == "Invalid 'sellerId' and 'marketplaceId' combination provided."


def test_listings_of_another_existing_seller_are_forbidden(amazon: Served) -> None:
    response = amazon.listings(amazon.token(), EU_SELLER.seller_id)
    assert response.status_code == 403
    assert error_body(response)["code"] == "Unauthorized"


def test_listings_reject_a_marketplace_the_seller_does_not_sell_on(amazon: Served) -> None:
    response = amazon.listings(amazon.token(), NA_SELLER.seller_id, marketplace_ids="A1AM78C64UM0Y8")
    assert response.status_code == 400
    assert error_body(response)["code"] == "InvalidInput"


def test_listings_require_marketplace_ids(amazon: Served) -> None:
    response = amazon.client.get(
        f"/spapi/listings/2021-08-01/items/{NA_SELLER.seller_id}", headers={"x-amz-access-token": amazon.token()}
    )
    assert response.status_code == 400
    assert error_body(response)["code"] == "InvalidInput"


# ---- fault knobs


def test_fail_next_answers_5xx_in_each_endpoints_shape(amazon: Served) -> None:
    amazon.emulator.fail_next(1, 503, scope="lwa")
    lwa = amazon.client.post("/auth/o2/token", data=lwa_form())
    assert (lwa.status_code, lwa.json()["error"]) == (503, "temporarily_unavailable")
    token = amazon.token()
    amazon.emulator.fail_next(1, 500, scope="sellers")
    spapi = amazon.participations(token)
    assert spapi.status_code == 500
    assert error_body(spapi)["code"] == "InternalFailure"
    assert amazon.participations(token).status_code == 200


def test_throttle_and_garble_knobs_are_scoped(amazon: Served) -> None:
    token = amazon.token()
    amazon.emulator.throttle_next(1, scope="listings")
    assert amazon.participations(token).status_code == 200
    assert amazon.listings(token, NA_SELLER.seller_id).status_code == 429
    amazon.emulator.garble_next(1, scope="sellers")
    garbled = amazon.participations(token)
    assert garbled.status_code == 200
    assert garbled.headers["content-type"].startswith("text/html")


def test_fault_knobs_reject_nonsense(amazon: Served) -> None:
    with pytest.raises(ValueError):
        amazon.emulator.fail_next(1, 404)
    with pytest.raises(ValueError):
        amazon.emulator.throttle_next(1, scope="lwa")
    with pytest.raises(ValueError):
        amazon.emulator.delay_next(1, 0.1, scope="everywhere")


def test_control_route(amazon: Served) -> None:
    assert amazon.client.post("/_control", json={"action": "fail", "count": 1, "scope": "lwa"}).json() == {"ok": True}
    assert amazon.client.post("/auth/o2/token", data=lwa_form()).status_code == 503
    assert amazon.client.post("/auth/o2/token", data=lwa_form()).status_code == 200
    amazon.client.post("/_control", json={"action": "revoke", "refresh_token": NA_SELLER.refresh_token})
    assert amazon.client.post("/auth/o2/token", data=lwa_form()).status_code == 400
    amazon.client.post("/_control", json={"action": "reset"})
    assert amazon.client.post("/auth/o2/token", data=lwa_form()).status_code == 200
    bad = amazon.client.post("/_control", json={"action": "explode"})
    assert bad.status_code == 400
    assert bad.json()["ok"] is False


# ---- demo credentials


def test_demo_credentials_pass_validation_and_cover_na_and_eu() -> None:
    regions = set()
    for marketplace_id, credentials in DEMO_CREDENTIALS.items():
        assert set(credentials) == {"seller_id", "refresh_token"}
        checked = validate_credentials(marketplace_id, credentials["seller_id"], credentials["refresh_token"])
        assert isinstance(checked, AmazonCredentials), checked
        regions.add(checked.marketplace.region)
    assert {"ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1F83G8C2ARO7P", "A1PA6795UKMFR9"} <= set(DEMO_CREDENTIALS)
    assert {"NA", "EU"} <= regions
    marketplace = find_marketplace("A1AM78C64UM0Y8")
    assert marketplace is not None and marketplace.id not in DEMO_CREDENTIALS  # listed, but not participating
