"""verify_and_connect against the Amazon emulator over real HTTP, with a fresh database per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from offamazon_ui.config import get_settings
from offamazon_ui.models import AmazonConnection, User
from offamazon_ui.sandbox.amazon import DEMO_CREDENTIALS, DEMO_SELLERS, AmazonEmulator, DemoSeller
from offamazon_ui.services.amazon import (
    AmazonConnectResult,
    ProblemCode,
    RetryPolicy,
    disconnect_amazon,
    get_amazon_connection,
    lwa,
    verify_and_connect,
)
from offamazon_ui.services.crypto import decrypt
from tests.servers import serve

US, CA, MX, UK, DE = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8", "A1F83G8C2ARO7P", "A1PA6795UKMFR9"
NA_SELLER, EU_SELLER = DEMO_SELLERS[0], DEMO_SELLERS[1]
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, timeout=2.0, max_throttle_wait=0.05)
SUPPORT = "support@cedcommerce.com"


@pytest.fixture(autouse=True)
def data_dir(app_env: Path) -> Path:
    # The shared `db` fixture opens SQLite inside the data dir, which app_env does not create.
    app_env.mkdir(parents=True, exist_ok=True)
    return app_env


@pytest.fixture
def amazon(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[AmazonEmulator]:
    settings = get_settings()
    emulator = AmazonEmulator(settings.lwa_client_id, settings.lwa_client_secret)
    with serve(emulator.app) as base:
        monkeypatch.setenv("OFFAMAZON_LWA_TOKEN_URL", f"{base}/auth/o2/token")
        monkeypatch.setenv("OFFAMAZON_SPAPI_URL", f"{base}/spapi")
        get_settings.cache_clear()
        yield emulator


@pytest.fixture
def user_id(db: Engine) -> int:
    with Session(db) as session:
        user = User(email="merchant@example.com", first_name="Mia", last_name="Merchant", password_hash="x")
        session.add(user)
        session.commit()
        assert user.id is not None
        return user.id


def stored(db: Engine, user_id: int) -> AmazonConnection | None:
    with Session(db) as session:
        return session.exec(select(AmazonConnection).where(AmazonConnection.user_id == user_id)).first()


async def connect(user_id: int, marketplace_id: str, seller_id: str, refresh_token: str) -> AmazonConnectResult:
    return await verify_and_connect(user_id, marketplace_id, seller_id, refresh_token, policy=FAST)


async def connect_demo(user_id: int, marketplace_id: str = US) -> AmazonConnectResult:
    demo = DEMO_CREDENTIALS[marketplace_id]
    return await connect(user_id, marketplace_id, demo["seller_id"], demo["refresh_token"])


def only_problem(result: AmazonConnectResult) -> tuple[ProblemCode, str | None]:
    assert not result.ok
    assert len(result.problems) == 1, result.problems
    return result.problems[0].code, result.problems[0].field


def database_bytes(data_dir: Path) -> bytes:
    """The SQLite file and its write-ahead log, where freshly committed rows live."""
    return b"".join(path.read_bytes() for path in data_dir.iterdir() if path.name.startswith("offamazon.db"))


def calls(emulator: AmazonEmulator) -> list[tuple[str, int]]:
    return [(call.path.rsplit("/", 1)[-1], call.status) for call in emulator.calls]


# ---- success


async def test_success_stores_an_encrypted_connection(
    amazon: AmazonEmulator, db: Engine, user_id: int, app_env: Path
) -> None:
    result = await connect_demo(user_id, US)
    assert result.ok and not result.problems
    summary = result.connection
    assert summary is not None
    assert (summary.marketplace_id, summary.region, summary.country, summary.seller_id, summary.store_name) == (
        US,
        "NA",
        "United States",
        NA_SELLER.seller_id,
        "Demo Outfitters US",
    )
    assert calls(amazon) == [("token", 200), ("marketplaceParticipations", 200), (NA_SELLER.seller_id, 200)]

    row = stored(db, user_id)
    assert row is not None
    assert row.refresh_token_enc != NA_SELLER.refresh_token
    assert decrypt(row.refresh_token_enc) == NA_SELLER.refresh_token
    assert get_amazon_connection(user_id) == summary

    raw = database_bytes(app_env)
    assert NA_SELLER.seller_id.encode() in raw  # we are looking at the bytes that hold the row
    assert NA_SELLER.refresh_token.encode() not in raw
    assert NA_SELLER.refresh_token[5:40].encode() not in raw


async def test_access_token_is_cached_in_memory_only(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    assert (await connect_demo(user_id)).ok
    settings = get_settings()
    cached = lwa.cached_access_token(settings.lwa_client_id, NA_SELLER.refresh_token)
    assert cached is not None and cached.value.startswith("Atza|")
    assert cached.value not in repr(cached)
    row = stored(db, user_id)
    assert row is not None and cached.value not in row.model_dump_json()


async def test_input_is_normalised_and_eu_sellers_connect(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    demo = DEMO_CREDENTIALS[DE]
    result = await connect(
        user_id, f" {DE.lower()} ", f" {demo['seller_id'].lower()} ", f"\t{demo['refresh_token']} \n"
    )
    assert result.connection is not None
    assert (result.connection.region, result.connection.store_name) == ("EU", "Demo Outfitters Deutschland")


async def test_invalid_input_is_reported_without_calling_amazon(amazon: AmazonEmulator, user_id: int) -> None:
    result = await connect(user_id, "XX", "nope", "Atza|wrong-kind")
    assert [problem.field for problem in result.problems] == ["marketplace_id", "seller_id", "refresh_token"]
    assert result.message_for("seller_id")
    assert amazon.calls == []


# ---- LWA failures


@pytest.mark.parametrize("revoke", [False, True])
async def test_unknown_or_revoked_refresh_token(amazon: AmazonEmulator, db: Engine, user_id: int, revoke: bool) -> None:
    token = NA_SELLER.refresh_token if revoke else "Atzr|IwEBIneverissued"
    if revoke:
        amazon.revoke(token)
    result = await connect(user_id, US, NA_SELLER.seller_id, token)
    assert only_problem(result) == (ProblemCode.REFRESH_TOKEN_REJECTED, "refresh_token")
    assert "revoked" in result.message_for("refresh_token")
    assert not result.retryable
    assert stored(db, user_id) is None


async def test_wrong_app_credentials_tell_the_merchant_to_contact_support(
    db: Engine, user_id: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = AmazonEmulator(get_settings().lwa_client_id, "the-secret-amazon-expects")
    with serve(emulator.app) as base:
        monkeypatch.setenv("OFFAMAZON_LWA_TOKEN_URL", f"{base}/auth/o2/token")
        monkeypatch.setenv("OFFAMAZON_SPAPI_URL", f"{base}/spapi")
        get_settings.cache_clear()
        with caplog.at_level(logging.DEBUG):
            result = await connect_demo(user_id)
    assert only_problem(result) == (ProblemCode.APP_CREDENTIALS_REJECTED, None)
    assert SUPPORT in result.message_for(None)
    assert "invalid_client" in caplog.text  # operators are told
    assert get_settings().lwa_client_secret not in caplog.text
    assert NA_SELLER.refresh_token not in caplog.text
    assert stored(db, user_id) is None


async def test_token_of_another_app_is_unauthorized_client(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    amazon.add_seller(
        DemoSeller(
            seller_id="A9OTHERAPPSELLER",
            refresh_token="Atzr|IwEBIotherapp",
            participations=NA_SELLER.participations,
            client_id="amzn1.application-oa2-client.someoneelse",
        )
    )
    result = await connect(user_id, US, "A9OTHERAPPSELLER", "Atzr|IwEBIotherapp")
    assert only_problem(result) == (ProblemCode.APP_CREDENTIALS_REJECTED, None)
    assert SUPPORT in result.message_for(None)


# ---- SP-API checks


async def test_marketplace_outside_the_account(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    result = await connect(user_id, DE, NA_SELLER.seller_id, NA_SELLER.refresh_token)
    assert only_problem(result) == (ProblemCode.MARKETPLACE_NOT_IN_ACCOUNT, "marketplace_id")
    message = result.message_for("marketplace_id")
    assert "amazon.de" in message and "United States" in message and "Canada" in message
    assert "Mexico" not in message  # listed by Amazon, but the seller is not participating there
    assert stored(db, user_id) is None


async def test_marketplace_listed_but_not_participating(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    result = await connect(user_id, MX, NA_SELLER.seller_id, NA_SELLER.refresh_token)
    assert only_problem(result) == (ProblemCode.MARKETPLACE_NOT_PARTICIPATING, "marketplace_id")
    assert stored(db, user_id) is None


@pytest.mark.parametrize(
    ("seller_id", "listings_status"),
    [(EU_SELLER.seller_id, 403), ("A9NOSUCHSELLER", 400)],
)
async def test_seller_id_of_someone_else(
    amazon: AmazonEmulator, db: Engine, user_id: int, seller_id: str, listings_status: int
) -> None:
    result = await connect(user_id, US, seller_id, NA_SELLER.refresh_token)
    assert only_problem(result) == (ProblemCode.SELLER_MISMATCH, "seller_id")
    assert calls(amazon)[-1] == (seller_id, listings_status)
    assert stored(db, user_id) is None


async def test_access_denied_by_sp_api_points_at_the_refresh_token(
    amazon: AmazonEmulator, db: Engine, user_id: int
) -> None:
    amazon.add_seller(
        DemoSeller(
            seller_id="A9NOSELLERSROLE",
            refresh_token="Atzr|IwEBInorole",
            participations=NA_SELLER.participations,
            denied_endpoints=frozenset({"sellers"}),
        )
    )
    result = await connect(user_id, US, "A9NOSELLERSROLE", "Atzr|IwEBInorole")
    assert only_problem(result) == (ProblemCode.REGION_DENIED, "refresh_token")
    assert "amazon.com" in result.message_for("refresh_token")
    assert stored(db, user_id) is None


# ---- throttling, outages, timeouts, garbage


async def test_long_throttling_is_reported_without_waiting(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    amazon.throttle_next(5, scope="sellers")
    result = await connect_demo(user_id)
    assert only_problem(result) == (ProblemCode.THROTTLED, None)
    assert result.message_for(None) == "Amazon is busy. Try again in a minute."
    assert result.retryable
    assert result.problems[0].retry_after_seconds == pytest.approx(62.5)
    assert calls(amazon) == [("token", 200), ("marketplaceParticipations", 429)]  # 62.5 s is too long to wait
    assert stored(db, user_id) is None


async def test_short_throttling_is_waited_out(amazon: AmazonEmulator, user_id: int) -> None:
    amazon.throttle_next(1, scope="listings")  # searchListingsItems allows 5/s: a 0.2 s wait
    result = await verify_and_connect(
        user_id, US, NA_SELLER.seller_id, NA_SELLER.refresh_token, policy=RetryPolicy(max_throttle_wait=0.5)
    )
    assert result.ok
    assert calls(amazon)[-2:] == [(NA_SELLER.seller_id, 429), (NA_SELLER.seller_id, 200)]


@pytest.mark.parametrize(("scope", "path"), [("lwa", "token"), ("sellers", "marketplaceParticipations")])
async def test_5xx_then_success_is_retried(amazon: AmazonEmulator, user_id: int, scope: str, path: str) -> None:
    amazon.fail_next(2, 503, scope=scope)
    result = await connect_demo(user_id)
    assert result.ok
    assert [status for name, status in calls(amazon) if name == path] == [503, 503, 200]


@pytest.mark.parametrize("scope", ["lwa", "sellers", "listings"])
async def test_persistent_5xx_is_a_retryable_error_and_nothing_is_stored(
    amazon: AmazonEmulator, db: Engine, user_id: int, scope: str
) -> None:
    amazon.fail_next(3, 500, scope=scope)
    result = await connect_demo(user_id)
    assert only_problem(result) == (ProblemCode.UNAVAILABLE, None)
    assert result.retryable
    assert [status for _, status in calls(amazon)][-3:] == [500, 500, 500]
    assert stored(db, user_id) is None


async def test_timeouts_are_retried_then_reported(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    policy = RetryPolicy(attempts=2, base_delay=0.01, timeout=0.2)
    amazon.delay_next(1, 0.5, scope="sellers")
    recovered = await verify_and_connect(user_id, US, NA_SELLER.seller_id, NA_SELLER.refresh_token, policy=policy)
    assert recovered.ok
    disconnect_amazon(user_id)

    amazon.delay_next(2, 0.5, scope="lwa")
    result = await verify_and_connect(user_id, US, NA_SELLER.seller_id, NA_SELLER.refresh_token, policy=policy)
    assert only_problem(result) == (ProblemCode.UNAVAILABLE, None)
    assert stored(db, user_id) is None


async def test_connection_refused_is_unavailable(db: Engine, user_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFAMAZON_LWA_TOKEN_URL", "http://127.0.0.1:9/auth/o2/token")
    get_settings.cache_clear()
    result = await connect_demo(user_id)
    assert only_problem(result) == (ProblemCode.UNAVAILABLE, None)


@pytest.mark.parametrize("scope", ["lwa", "sellers"])
async def test_non_json_answers_do_not_crash(amazon: AmazonEmulator, db: Engine, user_id: int, scope: str) -> None:
    amazon.garble_next(1, scope=scope)
    result = await connect_demo(user_id)
    assert only_problem(result) == (ProblemCode.UNEXPECTED_RESPONSE, None)
    assert stored(db, user_id) is None


async def test_retries_sleep_with_exponential_backoff(amazon: AmazonEmulator, user_id: int) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    amazon.fail_next(2, 503, scope="lwa")
    policy = RetryPolicy(base_delay=0.25, max_delay=4.0, sleep=record)
    assert (await verify_and_connect(user_id, US, NA_SELLER.seller_id, NA_SELLER.refresh_token, policy=policy)).ok
    assert delays == [0.25, 0.5]


# ---- replacing, storage and logging


async def test_new_credentials_replace_the_connection_only_after_passing(
    amazon: AmazonEmulator, db: Engine, user_id: int
) -> None:
    first = await connect_demo(user_id, US)
    assert first.connection is not None
    before = stored(db, user_id)

    failed = await connect(user_id, UK, EU_SELLER.seller_id, "Atzr|IwEBIneverissued")
    assert not failed.ok
    assert stored(db, user_id) == before

    replaced = await connect_demo(user_id, UK)
    assert replaced.connection is not None
    row = stored(db, user_id)
    assert row is not None and before is not None
    assert (row.id, row.marketplace_id, row.region, row.seller_id) == (before.id, UK, "EU", EU_SELLER.seller_id)
    assert decrypt(row.refresh_token_enc) == EU_SELLER.refresh_token
    assert row.connected_at == before.connected_at
    assert row.updated_at >= before.updated_at
    with Session(db) as session:
        assert len(session.exec(select(AmazonConnection)).all()) == 1


async def test_storage_failure_is_reported(amazon: AmazonEmulator, db: Engine) -> None:
    result = await connect_demo(user_id=4242)  # no such user: the foreign key refuses the row
    assert only_problem(result) == (ProblemCode.STORAGE_FAILED, None)
    assert result.retryable


async def test_disconnect_deletes_the_token(amazon: AmazonEmulator, db: Engine, user_id: int) -> None:
    assert (await connect_demo(user_id)).ok
    assert disconnect_amazon(user_id) is True
    assert stored(db, user_id) is None
    assert get_amazon_connection(user_id) is None
    assert disconnect_amazon(user_id) is False


async def test_no_secret_reaches_the_logs(
    amazon: AmazonEmulator, user_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await connect_demo(user_id)
        amazon.fail_next(3, 503, scope="listings")
        await connect_demo(user_id)
        amazon.revoke(NA_SELLER.refresh_token)
        await connect_demo(user_id)
    text = caplog.text
    assert "marketplaceParticipations" in text  # httpx and our own logging were captured
    for secret in (NA_SELLER.refresh_token, NA_SELLER.refresh_token[5:30], get_settings().lwa_client_secret, "Atza|"):
        assert secret not in text
