"""Every configuration variable: its default, its parsing, and the error that names it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from offamazon_ui.config import ConfigError, load_settings

KEY = "k" * 48


def settings(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings({"OFFAMAZON_DATA_DIR": str(tmp_path), **env})


def live_env(**extra: str) -> dict[str, str]:
    return {
        "OFFAMAZON_MODE": "live",
        "OFFAMAZON_SECRET_KEY": KEY,
        "SHOPIFY_API_KEY": "key",
        "SHOPIFY_API_SECRET": "secret",
        "AMAZON_LWA_CLIENT_ID": "amzn1.application-oa2-client.x",
        "AMAZON_LWA_CLIENT_SECRET": "lwa-secret",
        **extra,
    }


def test_sandbox_defaults_point_every_url_at_the_emulators(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert s.mode == "sandbox"
    assert s.public_url == "http://localhost:3000"
    assert s.backend_url == "http://localhost:8000"
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'offamazon.db'}"
    assert s.redis_url is None
    assert s.smtp is None
    assert s.shop_base_url("demo.myshopify.com") == "http://localhost:8000/sandbox/shopify/demo.myshopify.com"
    assert s.lwa_token_url == "http://localhost:8000/sandbox/amazon/auth/o2/token"
    assert s.spapi_url == "http://localhost:8000/sandbox/amazon/spapi"
    assert s.shopify_scopes == ("read_products", "read_inventory")
    assert s.shopify_api_version == "2026-07"
    assert s.default_marketplace_id == "ATVPDKIKX0DER"
    assert s.sandbox_url is None
    assert s.mounts_sandbox


def test_a_separate_sandbox_process_takes_over_every_emulator_url(tmp_path: Path) -> None:
    s = settings(tmp_path, OFFAMAZON_SANDBOX_URL="http://localhost:8010/", REFLEX_API_URL="http://localhost:3000")
    assert s.sandbox_url == "http://localhost:8010"
    assert not s.mounts_sandbox
    assert s.shop_base_url("demo.myshopify.com") == "http://localhost:8010/sandbox/shopify/demo.myshopify.com"
    assert s.lwa_token_url == "http://localhost:8010/sandbox/amazon/auth/o2/token"
    assert s.spapi_url == "http://localhost:8010/sandbox/amazon/spapi"


def test_explicit_emulator_urls_win_over_the_sandbox_process(tmp_path: Path) -> None:
    s = settings(
        tmp_path, OFFAMAZON_SANDBOX_URL="http://localhost:8010", OFFAMAZON_SPAPI_URL="http://127.0.0.1:9001/spapi"
    )
    assert s.spapi_url == "http://127.0.0.1:9001/spapi"
    assert s.lwa_token_url == "http://localhost:8010/sandbox/amazon/auth/o2/token"


def test_sandbox_process_url_is_refused_in_live_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^OFFAMAZON_SANDBOX_URL only applies in sandbox mode"):
        settings(tmp_path, **live_env(OFFAMAZON_SANDBOX_URL="http://localhost:8010"))
    assert not settings(tmp_path, **live_env()).mounts_sandbox


def test_live_defaults_point_at_shopify_and_amazon(tmp_path: Path) -> None:
    s = settings(tmp_path, **live_env())
    assert s.shop_base_url("store.myshopify.com") == "https://store.myshopify.com"
    assert s.lwa_token_url == "https://api.amazon.com/auth/o2/token"
    assert s.spapi_url is None
    assert (s.shopify_api_key, s.shopify_api_secret) == ("key", "secret")


def test_sandbox_secret_key_is_generated_once_with_private_permissions(tmp_path: Path) -> None:
    first = settings(tmp_path).secret_key
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(first) >= 32
    assert settings(tmp_path).secret_key == first


@pytest.mark.parametrize(
    "missing",
    [
        "OFFAMAZON_SECRET_KEY",
        "SHOPIFY_API_KEY",
        "SHOPIFY_API_SECRET",
        "AMAZON_LWA_CLIENT_ID",
        "AMAZON_LWA_CLIENT_SECRET",
    ],
)
def test_live_mode_refuses_to_start_without_its_secrets(tmp_path: Path, missing: str) -> None:
    env = live_env()
    del env[missing]
    with pytest.raises(ConfigError, match=f"^{missing} is required in live mode"):
        settings(tmp_path, **env)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OFFAMAZON_MODE", "staging", "OFFAMAZON_MODE must be 'sandbox' or 'live'"),
        ("OFFAMAZON_PUBLIC_URL", "localhost:3000", "OFFAMAZON_PUBLIC_URL must be an http(s) URL"),
        ("REFLEX_API_URL", "ftp://x", "REFLEX_API_URL must be an http(s) URL"),
        ("OFFAMAZON_SECRET_KEY", "short", "OFFAMAZON_SECRET_KEY must be at least 32 characters"),
        ("REFLEX_DB_URL", "offamazon.db", "REFLEX_DB_URL must be a SQLAlchemy URL"),
        ("REFLEX_REDIS_URL", "http://cache", "REFLEX_REDIS_URL must start with redis://"),
        ("OFFAMAZON_JOB_ENGINE", "celery", "OFFAMAZON_JOB_ENGINE must be 'embedded' or 'procrastinate'"),
        ("OFFAMAZON_JOB_ENGINE", "procrastinate", "OFFAMAZON_JOB_ENGINE=procrastinate needs REFLEX_DB_URL"),
        ("OFFAMAZON_SMTP_URL", "imap://mail", "OFFAMAZON_SMTP_URL must start with smtp://"),
        ("OFFAMAZON_SMTP_URL", "smtp://", "OFFAMAZON_SMTP_URL must name a host"),
        ("OFFAMAZON_SMTP_URL", "smtp://mail:99999", "OFFAMAZON_SMTP_URL has an invalid port"),
        ("OFFAMAZON_MAIL_FROM", "nobody", "OFFAMAZON_MAIL_FROM must contain an email address"),
        ("SHOPIFY_SCOPES", "read products", "SHOPIFY_SCOPES must be a comma-separated list"),
        ("SHOPIFY_API_VERSION", "latest", "SHOPIFY_API_VERSION must look like 2026-07"),
        ("OFFAMAZON_SHOPIFY_URL", "https://shop.example", "OFFAMAZON_SHOPIFY_URL must contain {shop}"),
        ("OFFAMAZON_SHOPIFY_URL", "shop://{shop}", "OFFAMAZON_SHOPIFY_URL must be an http(s) URL"),
        ("OFFAMAZON_LWA_TOKEN_URL", "not a url", "OFFAMAZON_LWA_TOKEN_URL must be an http(s) URL"),
        ("OFFAMAZON_SPAPI_URL", "sellingpartnerapi", "OFFAMAZON_SPAPI_URL must be an http(s) URL"),
        ("OFFAMAZON_SANDBOX_URL", "localhost:8010", "OFFAMAZON_SANDBOX_URL must be an http(s) URL"),
        ("OFFAMAZON_MARKETPLACE_ID", "US", "OFFAMAZON_MARKETPLACE_ID must be an Amazon marketplace ID"),
    ],
)
def test_malformed_values_are_rejected_with_the_variable_named(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        settings(tmp_path, **{name: value})
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("url", "security", "port", "user", "password"),
    [
        ("smtp://127.0.0.1:2525", "none", 2525, None, None),
        ("smtp+starttls://me%40corp:p%40ss@mail.example.com", "starttls", 587, "me@corp", "p@ss"),
        ("smtps://user:pw@mail.example.com:465", "tls", 465, "user", "pw"),
    ],
)
def test_smtp_url_forms(
    tmp_path: Path, url: str, security: str, port: int, user: str | None, password: str | None
) -> None:
    smtp = settings(tmp_path, OFFAMAZON_SMTP_URL=url).smtp
    assert smtp is not None
    assert (smtp.security, smtp.port, smtp.username, smtp.password) == (security, port, user, password)


def test_explicit_values_override_defaults(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        OFFAMAZON_PUBLIC_URL="https://onboard.example.com/",
        REFLEX_API_URL="https://onboard.example.com",
        REFLEX_DB_URL="postgresql+psycopg://127.0.0.1/test",
        REFLEX_REDIS_URL="redis://127.0.0.1:6379/0",
        OFFAMAZON_JOB_ENGINE="Procrastinate",
        OFFAMAZON_MAIL_FROM="Onboarding <hello@example.com>",
        SHOPIFY_SCOPES="read_products, read_inventory ,read_locations",
        SHOPIFY_API_VERSION="2026-10",
        OFFAMAZON_SHOPIFY_URL="http://127.0.0.1:9000/{shop}/",
        OFFAMAZON_LWA_TOKEN_URL="http://127.0.0.1:9001/auth/o2/token",
        OFFAMAZON_SPAPI_URL="http://127.0.0.1:9001/spapi",
        OFFAMAZON_MARKETPLACE_ID="a1pa6795ukmfr9",
    )
    assert s.public_url == "https://onboard.example.com"
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.job_engine == "procrastinate"
    assert s.mail_from == "Onboarding <hello@example.com>"
    assert s.shopify_scopes == ("read_products", "read_inventory", "read_locations")
    assert s.shopify_api_version == "2026-10"
    assert s.shop_base_url("a.myshopify.com") == "http://127.0.0.1:9000/a.myshopify.com"
    assert s.lwa_token_url == "http://127.0.0.1:9001/auth/o2/token"
    assert s.spapi_url == "http://127.0.0.1:9001/spapi"
    assert s.default_marketplace_id == "A1PA6795UKMFR9"
