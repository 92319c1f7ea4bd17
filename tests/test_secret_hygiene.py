"""After a whole onboarding, no secret that passed through is in a log record, a state var or the data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from offamazon_ui.services.db import get_engine
from tests.importer_fixtures import ImportSandbox, importer, shopify
from tests.onboarding_flow import OnboardedMerchant, onboard

__all__ = ["importer", "shopify"]
# Six digits can occur by chance in binary pages full of prices and ids; codes are checked in the logs only.
SHORT_SECRETS = {"email code"}


@pytest.fixture
async def merchant(importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch, app_env: Path) -> OnboardedMerchant:
    return await onboard(importer, monkeypatch, app_env)


async def test_no_secret_reaches_any_log_record_at_debug_level(merchant: OnboardedMerchant) -> None:
    lines = merchant.log.lines()
    for name, secret in merchant.secrets.items():
        leaking = [line[:300] for line in lines if secret in line]
        assert not leaking, f"the {name} is in the logs: {leaking}"
    # The secrets did pass through logging, and were redacted there: the callback's access log line
    # (code, state, hmac in its query) and the HTTP client's line for Shopify's authorize URL.
    callback = [line for line in lines if line.startswith("uvicorn.access") and "/auth/shopify/callback?" in line]
    assert callback and all("code=[redacted]" in line and "state=[redacted]" in line for line in callback)
    assert any(line.startswith("httpx") and "/admin/oauth/authorize?" in line for line in lines)
    assert all("state=[redacted]" in line for line in lines if "/admin/oauth/authorize?" in line)
    # SQL statements are logged with their parameters at this level: secrets never travel to the database.
    assert any(line.startswith("sqlalchemy.engine") for line in lines)


async def test_no_token_is_stored_in_plaintext_anywhere_in_the_data_dir(merchant: OnboardedMerchant) -> None:
    files = [path for path in merchant.data_dir.rglob("*") if path.is_file()]
    assert any(path.name.startswith("offamazon.db") for path in files)
    stored = b"".join(path.read_bytes() for path in files)
    for value in merchant.visible_at_rest:  # the scan reads the bytes that hold the rows
        assert value.encode() in stored
    for name, secret in merchant.secrets.items():
        if name in SHORT_SECRETS:
            continue
        assert secret.encode() not in stored, f"the {name} is stored in plaintext"
        assert secret[len(secret) // 3 :][:16].encode() not in stored, f"part of the {name} is stored in plaintext"


async def test_no_state_var_holds_a_secret_or_what_is_stored_for_one(merchant: OnboardedMerchant) -> None:
    stored = stored_secret_forms()
    assert "Flo Owner" in merchant.browser_view  # the view is this merchant's, signed in
    for name, secret in (merchant.secrets | stored).items():
        assert secret not in merchant.browser_view, f"the {name} is in a var the browser receives"


def stored_secret_forms() -> dict[str, str]:
    """What the database keeps instead of secrets: hashes and ciphertexts, which must not reach the browser either."""
    found: dict[str, str] = {}
    with get_engine().connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            columns = [column for column in table.columns if column.name.endswith(("_hash", "_enc"))]
            for column in columns:
                for index, value in enumerate(connection.execute(sa.select(column)).scalars()):
                    if value and len(value) >= 16:  # fixtures' placeholder hashes ("x") prove nothing
                        found[f"{table.name}.{column.name} #{index}"] = value
    assert any(name.startswith("user.password_hash") for name in found)
    return found
