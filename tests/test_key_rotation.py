"""Rotating OFFAMAZON_SECRET_KEY: nothing stops working, and `rotate_keys` moves stored tokens to the new key.

Everything is written under key A; the app then runs with key B and A as a
previous key, as during a rotation; finally key A is dropped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import InvalidToken
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from offamazon_ui.models import AmazonConnection, ShopConnection, User, utcnow
from offamazon_ui.services import codes, crypto, sessions, shopify
from offamazon_ui.services.codes import VERIFY_EMAIL, CodeCheck
from offamazon_ui.services.crypto import TokenUnreadable, decrypt, encrypt, fernet_for
from offamazon_ui.services.db import session_scope
from offamazon_ui.services.keyrotation import rotate_stored_tokens
from offamazon_ui.services.ratelimit import account_subject
from offamazon_ui.services.shopify import oauth
from offamazon_ui.services.shopify.connection import save_connection
from offamazon_ui.services.shopify.tokens import TokenGrant
from tests.environment import clear_caches

KEY_A = "key-a-" + "a" * 40
KEY_B = "key-b-" + "b" * 40
SHOP = "rotation-demo.myshopify.com"
SHOP_ACCESS = "shpat_" + "1" * 32
SHOP_REFRESH = "shprt_" + "2" * 48
AMAZON_REFRESH = "Atzr|IwEBI" + "3" * 60
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def use_keys(monkeypatch: pytest.MonkeyPatch, current: str, *previous: str) -> None:
    monkeypatch.setenv("OFFAMAZON_SECRET_KEY", current)
    if previous:
        monkeypatch.setenv("OFFAMAZON_PREVIOUS_SECRET_KEYS", ",".join(previous))
    else:
        monkeypatch.delenv("OFFAMAZON_PREVIOUS_SECRET_KEYS", raising=False)
    clear_caches()


@pytest.fixture
def written_under_a(db: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A merchant with tokens, a session, a sign-in ticket, an emailed code and a pending Shopify install."""
    use_keys(monkeypatch, KEY_A)
    with Session(db) as session:
        user = User(email="rotate@example.com", first_name="Rita", last_name="Rotate", password_hash="x")
        session.add(user)
        session.commit()
        assert user.id is not None
        user_id = user.id
    grant = TokenGrant(SHOP_ACCESS, ("read_products",), utcnow() + timedelta(hours=1), SHOP_REFRESH, None)
    save_connection(user_id, SHOP, "Rotation Demo", grant)
    with session_scope() as session:
        session.add(
            AmazonConnection(
                user_id=user_id,
                marketplace_id="ATVPDKIKX0DER",
                region="NA",
                seller_id="A2EXAMPLE3SELLER",
                store_name="Demo",
                refresh_token_enc=encrypt(AMAZON_REFRESH),
            )
        )
        code = codes.issue_code(session, user_id=user_id, purpose=VERIFY_EMAIL, now=utcnow())
    authorize_url = shopify.begin_install(user_id, SHOP)
    return {
        "user_id": user_id,
        "session": sessions.create_session(user_id),
        "ticket": sessions.issue_ticket(user_id),
        "code": code,
        "nonce": parse_qs(urlsplit(authorize_url).query)["state"][0],
    }


def stored_ciphertexts(db: Engine) -> list[str]:
    with Session(db) as session:
        shop = session.exec(select(ShopConnection)).one()
        amazon = session.exec(select(AmazonConnection)).one()
    assert shop.refresh_token_enc is not None
    return [shop.access_token_enc, shop.refresh_token_enc, amazon.refresh_token_enc]


def readable_with_only(key: str, ciphertext: str) -> str:
    return fernet_for(key).decrypt(ciphertext.encode()).decode()


def test_during_a_rotation_everything_written_under_the_old_key_keeps_working(
    db: Engine, written_under_a: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(monkeypatch, KEY_B, KEY_A)
    user_id = written_under_a["user_id"]
    assert [decrypt(value) for value in stored_ciphertexts(db)] == [SHOP_ACCESS, SHOP_REFRESH, AMAZON_REFRESH]
    assert sessions.resolve_session(written_under_a["session"]) == user_id
    assert sessions.redeem_ticket(written_under_a["ticket"]) is not None
    with session_scope() as session:
        check = codes.check_code(
            session,
            subject=account_subject("rotate@example.com"),
            user_id=user_id,
            purpose=VERIFY_EMAIL,
            code=written_under_a["code"],
            client_ip=None,
            now=utcnow(),
        )
    assert check is CodeCheck.ACCEPTED
    assert oauth._consume_state(user_id, written_under_a["nonce"]) == SHOP
    # New secrets are written under the new key only.
    assert readable_with_only(KEY_B, encrypt("fresh")) == "fresh"
    assert crypto.keyed_hash("session", "x") == crypto.keyed_hash_candidates("session", "x")[0]
    sessions.revoke_session(written_under_a["session"])
    assert sessions.resolve_session(written_under_a["session"]) is None


def test_rotate_moves_every_stored_token_to_the_new_key(
    db: Engine, written_under_a: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stored_ciphertexts(db)
    use_keys(monkeypatch, KEY_B, KEY_A)
    report = rotate_stored_tokens(batch_size=1)
    assert {name: counts.rotated for name, counts in report.columns.items()} == {
        "amazonconnection.refresh_token_enc": 1,
        "shopconnection.access_token_enc": 1,
        "shopconnection.refresh_token_enc": 1,
    } | {name: 0 for name in report.columns if not name.startswith(("amazonconnection.", "shopconnection."))}
    assert report.unreadable == 0
    after = stored_ciphertexts(db)
    assert [readable_with_only(KEY_B, value) for value in after] == [SHOP_ACCESS, SHOP_REFRESH, AMAZON_REFRESH]
    for value in after:
        with pytest.raises(InvalidToken):
            readable_with_only(KEY_A, value)
    assert before != after

    # The old key can go: tokens read with the new key alone, and a second run has nothing to do.
    use_keys(monkeypatch, KEY_B)
    assert [decrypt(value) for value in stored_ciphertexts(db)] == [SHOP_ACCESS, SHOP_REFRESH, AMAZON_REFRESH]
    again = rotate_stored_tokens()
    assert sum(counts.rotated for counts in again.columns.values()) == 0
    # Hashes cannot be re-keyed: a session from before the rotation needs the old key until it expires.
    assert sessions.resolve_session(written_under_a["session"]) is None


def test_without_the_old_key_tokens_are_reported_unreadable_and_left_alone(
    db: Engine, written_under_a: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stored_ciphertexts(db)
    use_keys(monkeypatch, KEY_B)
    with pytest.raises(TokenUnreadable):
        decrypt(before[0])
    report = rotate_stored_tokens()
    assert report.unreadable == 3
    assert stored_ciphertexts(db) == before


def test_a_token_refreshed_while_rotating_is_not_overwritten(
    db: Engine, written_under_a: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from offamazon_ui.services import keyrotation

    use_keys(monkeypatch, KEY_B, KEY_A)
    refreshed = encrypt("shpat_refreshed_meanwhile")
    real_reencrypt = keyrotation.reencrypt

    def app_refreshes_first(ciphertext: str) -> str | None:
        # The app stores a refreshed access token between rotate's read and its write.
        with session_scope() as session:
            row = session.exec(select(ShopConnection).where(ShopConnection.access_token_enc == ciphertext)).first()
            if row is not None:
                row.access_token_enc = refreshed
        return real_reencrypt(ciphertext)

    monkeypatch.setattr(keyrotation, "reencrypt", app_refreshes_first)
    report = rotate_stored_tokens()
    assert report.columns["shopconnection.access_token_enc"].rotated == 0
    assert stored_ciphertexts(db)[0] == refreshed
    assert decrypt(stored_ciphertexts(db)[0]) == "shpat_refreshed_meanwhile"


def test_the_command_rotates_and_exits_non_zero_when_a_value_is_unreadable(
    db: Engine, written_under_a: dict, app_env: Path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    command = [sys.executable, "-m", "offamazon_ui.rotate_keys"]
    without_old_key = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env | {"OFFAMAZON_SECRET_KEY": KEY_B}, capture_output=True, text=True
    )
    assert without_old_key.returncode == 1, without_old_key.stderr
    assert "cannot be decrypted" in without_old_key.stderr
    assert "shopconnection.access_token_enc: 0 re-encrypted, 0 already current, 1 unreadable" in without_old_key.stdout

    rotated = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env | {"OFFAMAZON_SECRET_KEY": KEY_B, "OFFAMAZON_PREVIOUS_SECRET_KEYS": KEY_A},
        capture_output=True,
        text=True,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "shopconnection.access_token_enc: 1 re-encrypted, 0 already current" in rotated.stdout
    for secret in (KEY_A, KEY_B, SHOP_ACCESS, AMAZON_REFRESH):
        assert secret not in rotated.stdout + rotated.stderr
    assert [readable_with_only(KEY_B, value) for value in stored_ciphertexts(db)] == [
        SHOP_ACCESS,
        SHOP_REFRESH,
        AMAZON_REFRESH,
    ]
