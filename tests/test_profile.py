"""Settings services: names, password change, sessions, disconnecting a store, deleting an account."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from offamazon_ui.models import AuthSession, ShopConnection, ShopifyProduct, ShopifyVariant, TwoFactorChallenge, User
from offamazon_ui.services import accounts, onboarding, passwords, profile, sessions, shopify, twofactor
from offamazon_ui.services.accounts import FieldError
from offamazon_ui.services.db import get_engine, session_scope
from offamazon_ui.services.ratelimit import account_subject
from offamazon_ui.services.shopify.connection import disconnect_shop, save_connection
from offamazon_ui.services.shopify.errors import ReconnectRequired
from offamazon_ui.services.shopify.tokens import TokenGrant
from tests.settings_fixtures import NEW_PASSWORD, PASSWORD, connect_amazon, connect_shop, make_user

NOW = datetime(2026, 3, 2, 9, 0, 0)
IP = "203.0.113.7"
EMAIL = "ann@example.com"


@pytest.fixture(autouse=True)
def database(db: sa.Engine, fast_bcrypt: None) -> None:
    """Every test here uses a fresh database and fast bcrypt."""


@pytest.fixture
def user_id() -> int:
    return make_user(EMAIL, now=NOW - timedelta(days=1))


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


# Names


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("", "Lee", FieldError("first_name", "Enter your first name.")),
        ("Ann", "  ", FieldError("last_name", "Enter your last name.")),
        ("A" * 101, "Lee", FieldError("first_name", "First name can be at most 100 characters.")),
        ("Ann\u202e", "Lee", FieldError("first_name", "First name can't contain control or invisible characters.")),
    ],
)
def test_names_are_validated_like_at_registration(user_id: int, first: str, last: str, expected: FieldError) -> None:
    assert profile.update_names(user_id, first, last) == (expected,)
    assert profile.get_profile(user_id) == profile.Profile("Ann", "Lee", EMAIL)


def test_names_are_saved_trimmed_and_normalised(user_id: int) -> None:
    assert profile.update_names(user_id, "  Zoe\u0301 ", " O'Neil ") == ()
    saved = profile.get_profile(user_id)
    assert saved is not None
    assert (saved.first_name, saved.last_name) == ("Zoé", "O'Neil")
    identity = onboarding.progress_of(user_id)
    assert identity is not None and identity.display_name == "Zoé O'Neil"


# Change password


async def test_change_password_ends_every_session_and_only_the_new_password_signs_in(user_id: int) -> None:
    tokens = [sessions.create_session(user_id, now=at(-5)) for _ in range(3)]
    assert await profile.change_password(user_id, PASSWORD, NEW_PASSWORD, NEW_PASSWORD, IP, now=at(0)) == ()
    assert all(sessions.resolve_session(token, now=at(1)) is None for token in tokens)
    assert (await accounts.login(EMAIL, PASSWORD, IP, now=at(2))).user_id is None
    assert (await accounts.login(EMAIL, NEW_PASSWORD, IP, now=at(2))).user_id == user_id


async def test_change_password_voids_sign_ins_waiting_for_their_second_factor(user_id: int) -> None:
    with session_scope() as db:
        db.add(TwoFactorChallenge(user_id=user_id, token_hash="x" * 64, expires_at=at(5)))
    assert await profile.change_password(user_id, PASSWORD, NEW_PASSWORD, NEW_PASSWORD, IP, now=at(0)) == ()
    with session_scope() as db:
        assert db.exec(select(func.count()).select_from(TwoFactorChallenge)).one() == 0


@pytest.mark.parametrize(
    ("current", "new", "confirm", "expected"),
    [
        ("", NEW_PASSWORD, NEW_PASSWORD, (FieldError("current_password", "Enter your current password."),)),
        (
            "Wrong-Harbor-42",
            NEW_PASSWORD,
            NEW_PASSWORD,
            (FieldError("current_password", "Your password is incorrect."),),
        ),
        (PASSWORD, "short", "short", (FieldError("password", "Password must be at least 8 characters."),)),
        (PASSWORD, NEW_PASSWORD, "Other-Valley-77", (FieldError("confirm_password", "Passwords do not match."),)),
        (PASSWORD, "ann-Harbor-42", "ann-Harbor-42", (FieldError("password", passwords._MESSAGES["not_email_name"]),)),
        (PASSWORD, PASSWORD, PASSWORD, (FieldError("password", profile.SAME_PASSWORD_MESSAGE),)),
    ],
)
async def test_change_password_refusals_keep_the_old_password_and_sessions(
    user_id: int, current: str, new: str, confirm: str, expected: tuple[FieldError, ...]
) -> None:
    token = sessions.create_session(user_id, now=at(-5))
    assert await profile.change_password(user_id, current, new, confirm, IP, now=at(0)) == expected
    assert sessions.resolve_session(token, now=at(1)) == user_id
    assert (await accounts.login(EMAIL, PASSWORD, IP, now=at(2))).user_id == user_id


async def test_wrong_current_passwords_share_the_login_lockout(user_id: int) -> None:
    for attempt in range(10):
        errors = await profile.change_password(user_id, f"Wrong-{attempt}-Pass!", NEW_PASSWORD, NEW_PASSWORD, IP)
        assert errors == (FieldError("current_password", "Your password is incorrect."),)
    locked = await profile.change_password(user_id, PASSWORD, NEW_PASSWORD, NEW_PASSWORD, IP)
    assert len(locked) == 1 and locked[0].field is None and locked[0].message.startswith("Too many attempts.")
    # The login door is closed too: the right password is refused while the account is locked.
    assert (await accounts.login(EMAIL, PASSWORD, IP)).user_id is None


# Sessions


def test_sessions_list_only_live_ones_marks_this_device_and_never_carries_tokens(user_id: int) -> None:
    old = sessions.create_session(user_id, now=at(-60 * 24 * 8))  # past the 7-day limit
    idle = sessions.create_session(user_id, now=at(-60 * 13))  # unused for 13 hours
    revoked = sessions.create_session(user_id, now=at(-30))
    sessions.revoke_session(revoked, now=at(-20))
    first = sessions.create_session(user_id, now=at(-10))
    this_one = sessions.create_session(user_id, now=at(-5))
    other_user = make_user("bob@example.com", now=NOW)
    sessions.create_session(other_user, now=at(-1))

    listed = profile.list_sessions(user_id, this_one, now=at(0))

    assert [(info.created_at, info.current) for info in listed] == [(at(-5), True), (at(-10), False)]
    assert {f.name for f in dataclasses.fields(profile.SessionInfo)} == {"created_at", "last_seen_at", "current"}
    assert profile.list_sessions(user_id, None, now=at(0))[0].current is False
    assert all(token not in repr(listed) for token in (old, idle, revoked, first, this_one))


def test_sign_out_everywhere_ends_every_session_of_the_user_only(user_id: int) -> None:
    mine = [sessions.create_session(user_id) for _ in range(2)]
    other = sessions.create_session(make_user("bob@example.com", now=NOW))
    assert profile.sign_out_everywhere(user_id) == 2
    assert [sessions.resolve_session(token) for token in mine] == [None, None]
    assert sessions.resolve_session(other) is not None
    assert profile.list_sessions(user_id, mine[0]) == []


# Disconnecting Shopify


def _count(model: type, shop_id: int) -> int:
    with session_scope() as db:
        return db.exec(select(func.count()).select_from(model).where(model.shop_connection_id == shop_id)).one()  # type: ignore[attr-defined]


async def test_disconnect_keeping_products_forgets_tokens_and_reconnecting_finds_them_again(user_id: int) -> None:
    shop_id = connect_shop(user_id, "kept.myshopify.com", products=3)

    assert disconnect_shop(user_id, keep_products=True) is True

    assert _count(ShopifyProduct, shop_id) == 3 and _count(ShopifyVariant, shop_id) == 3
    with session_scope() as db:
        row = db.get(ShopConnection, shop_id)
        assert row is not None and row.access_token_enc == "" and row.refresh_token_enc is None
    assert shopify.get_shop_connection(user_id) is None
    identity = onboarding.progress_of(user_id)
    assert identity is not None and not identity.shop_connected
    with pytest.raises(ReconnectRequired):
        await shopify.get_access_token(shop_id)
    assert disconnect_shop(user_id, keep_products=True) is False  # nothing left to disconnect

    grant = TokenGrant(access_token="shpat_new", scopes=("read_products", "read_inventory"), access_expires_at=None)
    info, reconnected = save_connection(user_id, "kept.myshopify.com", "Kept", grant)
    assert (info.id, reconnected) == (shop_id, True)
    assert _count(ShopifyProduct, shop_id) == 3
    assert await shopify.get_access_token(shop_id) == "shpat_new"


def test_disconnect_deleting_products_removes_the_store_and_its_catalog(user_id: int) -> None:
    shop_id = connect_shop(user_id, "gone.myshopify.com", products=3)
    bystander_shop = connect_shop(make_user("bob@example.com", now=NOW), "other.myshopify.com", products=2)

    assert disconnect_shop(user_id, keep_products=False) is True

    assert _count(ShopifyProduct, shop_id) == 0 and _count(ShopifyVariant, shop_id) == 0
    with session_scope() as db:
        assert db.get(ShopConnection, shop_id) is None
    assert shopify.connection.shop_owner("gone.myshopify.com") is None  # another account may connect it now
    assert _count(ShopifyProduct, bystander_shop) == 2


def test_kept_products_can_be_deleted_later(user_id: int) -> None:
    shop_id = connect_shop(user_id, "later.myshopify.com")
    disconnect_shop(user_id, keep_products=True)
    assert disconnect_shop(user_id, keep_products=False) is True
    assert _count(ShopifyProduct, shop_id) == 0


# Deleting the account


async def test_delete_account_needs_the_password(user_id: int) -> None:
    error = await profile.delete_account(user_id, "Wrong-Harbor-42", IP, field="delete_password")
    assert error == FieldError("delete_password", "Your password is incorrect.")
    assert await profile.delete_account(user_id, "", IP, field="delete_password") == FieldError(
        "delete_password", "Enter your current password."
    )
    assert profile.get_profile(user_id) is not None


def _rows_referring_to(user_id: int, email: str, shop_id: int, shop_domain: str) -> list[str]:
    """Every row, in every table the database has, that names the user, their address or their store."""
    needles = (email, shop_domain, account_subject(email))
    found: list[str] = []
    engine = get_engine()
    inspector = sa.inspect(engine)
    with engine.connect() as connection:
        for table_name in inspector.get_table_names():
            references = {
                column: foreign_key["referred_table"]
                for foreign_key in inspector.get_foreign_keys(table_name)
                for column in foreign_key["constrained_columns"]
            }
            table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
            for row in connection.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    points_at_user = references.get(column) == "user" or (table_name == "user" and column == "id")
                    points_at_shop = references.get(column) == "shopconnection" or (
                        table_name == "shopconnection" and column == "id"
                    )
                    if (
                        (points_at_user and value == user_id)
                        or (points_at_shop and value == shop_id)
                        or (isinstance(value, str) and any(needle in value for needle in needles))
                    ):
                        found.append(f"{table_name}.{column}")
    return found


async def test_deleting_an_account_leaves_no_row_behind_and_spares_other_accounts(user_id: int) -> None:
    # Everything an account accumulates: sessions, a ticket, codes, rate-limit events, a pending OAuth
    # state, a store with its catalog and import job, Amazon credentials, two-factor with recovery codes.
    sessions.create_session(user_id)
    sessions.issue_ticket(user_id)
    await accounts.request_password_reset(EMAIL, IP)
    await accounts.login(EMAIL, "Wrong-Harbor-42", IP)
    await accounts.login("ANN@example.com", "Wrong-Harbor-42", "198.51.100.9")
    shopify.begin_install(user_id, "ann-shop.myshopify.com")
    shop_id = connect_shop(user_id, "ann-shop.myshopify.com")
    connect_amazon(user_id)
    setup = twofactor.begin_setup(user_id, now=NOW)
    assert setup is not None
    code = pyotp.TOTP(setup.key).at(NOW.replace(tzinfo=UTC))
    assert twofactor.confirm_setup(user_id, code, IP, now=NOW).ok
    assert twofactor.begin_sign_in(user_id, now=NOW).challenge is not None

    bystander = make_user("bob@example.com", now=NOW)
    sessions.create_session(bystander)
    bystander_shop = connect_shop(bystander, "bob-shop.myshopify.com")
    connect_amazon(bystander)
    await accounts.login("bob@example.com", "Wrong-Harbor-42", IP)
    assert _rows_referring_to(user_id, EMAIL, shop_id, "ann-shop.myshopify.com")  # the scan does see them

    assert await profile.delete_account(user_id, PASSWORD, IP, field="delete_password") is None

    assert _rows_referring_to(user_id, EMAIL, shop_id, "ann-shop.myshopify.com") == []
    assert _rows_referring_to(bystander, "bob@example.com", bystander_shop, "bob-shop.myshopify.com")
    assert (await accounts.login(EMAIL, PASSWORD, IP)).user_id is None
    with session_scope() as db:
        assert db.exec(select(func.count()).select_from(User)).one() == 1
        assert db.exec(select(func.count()).select_from(AuthSession)).one() == 1
