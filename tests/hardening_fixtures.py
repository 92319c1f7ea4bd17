"""A database with two merchants' data in it, and helpers to drive page states as an anonymous or signed-in client.

Used by the tests that call every handler and route with hostile input: a change
to stored data shows up as a difference between two `snapshot()`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import reflex as rx
import sqlalchemy as sa
from reflex.istate.data import RouterData
from reflex.utils.format import json_dumps
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import offamazon_ui.offamazon_ui  # noqa: F401  registers every page state
from offamazon_ui.models import (
    AmazonConnection,
    ImportJob,
    ShopConnection,
    ShopifyProduct,
    ShopifyVariant,
    User,
    utcnow,
)
from offamazon_ui.services import codes, sessions
from offamazon_ui.services.codes import VERIFY_EMAIL
from offamazon_ui.services.crypto import encrypt
from offamazon_ui.services.db import session_scope
from offamazon_ui.state import SESSION_COOKIE

PASSWORD = "Amber#Lighthouse-57"
CLIENT_IP = "198.51.100.23"


@dataclass(frozen=True)
class Merchant:
    user_id: int
    email: str
    session_token: str
    shop_connection_id: int
    shop_domain: str
    product_title: str


@dataclass(frozen=True)
class Seeded:
    owner: Merchant
    other: Merchant
    pending_email: str  # registered, not verified, with a live code


def app_states() -> list[type[rx.State]]:
    found: list[type[rx.State]] = []
    pending = list(rx.State.get_substates())
    while pending:
        state = pending.pop()
        if state.__module__.startswith("offamazon_ui"):
            found.append(state)
        pending.extend(state.get_substates())
    return sorted(found, key=lambda state: state.get_full_name())


def substate(root: rx.State, cls: type[rx.State]) -> Any:
    return root.get_substate(cls.get_full_name().split(".")[1:])


def new_tree(session_token: str | None = None) -> rx.State:
    """A client's state tree; with a token, its websocket handshake carried that session cookie."""
    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg]
    headers = {"cookie": f"{SESSION_COOKIE}={session_token}"} if session_token else {}
    root.router = RouterData.from_router_data({"headers": headers, "ip": CLIENT_IP})
    return root


def browser_view(root: rx.State) -> str:
    """What hydration would send: every public var of every state in the tree, serialised as Reflex does
    (which leaves the cookie header out of the router data)."""
    return json_dumps(root.dict())


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, comparable across calls."""
    with engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(sa.select(table)))
            for table in SQLModel.metadata.sorted_tables
        }


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def _merchant(session: Session, name: str, password_hash: str) -> Merchant:
    email = f"{name}@example.com"
    user = User(email=email, first_name=name.title(), last_name="Merchant", password_hash=password_hash)
    user.email_verified_at = utcnow()
    session.add(user)
    session.flush()
    assert user.id is not None
    domain = f"{name}-store.myshopify.com"
    shop = ShopConnection(
        user_id=user.id,
        shop_domain=domain,
        shop_name=f"{name.title()} Store",
        scopes="read_inventory,read_products",
        access_token_enc=encrypt(f"shpat_{name}access"),
        refresh_token_enc=encrypt(f"shprt_{name}refresh"),
    )
    session.add(shop)
    session.add(
        AmazonConnection(
            user_id=user.id,
            marketplace_id="ATVPDKIKX0DER",
            region="NA",
            seller_id=f"A{name.upper()}SELLER1",
            store_name=f"{name.title()} on Amazon",
            refresh_token_enc=encrypt(f"Atzr|IwEBI{name}"),
        )
    )
    session.flush()
    assert shop.id is not None
    session.add(ImportJob(shop_connection_id=shop.id, status="completed", products_seen=1, variants_seen=1))
    title = f"{name.title()}'s private product"
    session.add(
        ShopifyProduct(
            shop_connection_id=shop.id,
            shopify_id=f"gid://shopify/Product/{user.id}1",
            title=title,
            handle=f"{name}-product",
            vendor=name,
            product_type="Thing",
            status="active",
            variant_count=1,
            price_min=Decimal("9.50"),
            price_max=Decimal("9.50"),
        )
    )
    session.add(
        ShopifyVariant(
            shop_connection_id=shop.id,
            shopify_id=f"gid://shopify/ProductVariant/{user.id}1",
            product_shopify_id=f"gid://shopify/Product/{user.id}1",
            title="Default",
            sku=f"{name.upper()}-SKU",
            price=Decimal("9.50"),
        )
    )
    token = sessions.start_session(session, user.id, utcnow())
    return Merchant(user.id, email, token, shop.id, domain, title)


@pytest.fixture
def seeded(db: Engine, fast_bcrypt: None) -> Seeded:
    import bcrypt

    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    with session_scope() as session:
        owner = _merchant(session, "owner", password_hash)
        other = _merchant(session, "other", password_hash)
        pending = User(email="pending@example.com", first_name="Pat", last_name="Pending", password_hash=password_hash)
        session.add(pending)
        session.flush()
        assert pending.id is not None
        codes.issue_code(session, user_id=pending.id, purpose=VERIFY_EMAIL, now=utcnow())
    return Seeded(owner=owner, other=other, pending_email="pending@example.com")
