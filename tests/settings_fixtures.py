"""Accounts and connected stores for the settings tests, written straight into the database."""

from __future__ import annotations

from datetime import datetime

import bcrypt

from offamazon_ui.models import (
    AmazonConnection,
    ImportJob,
    ShopConnection,
    ShopifyProduct,
    ShopifyProductImage,
    ShopifyVariant,
    User,
)
from offamazon_ui.services import passwords
from offamazon_ui.services.crypto import encrypt
from offamazon_ui.services.db import session_scope

PASSWORD = "Blue-Harbor-42"
NEW_PASSWORD = "Green-Valley-77"


def make_user(email: str, *, password: str = PASSWORD, now: datetime) -> int:
    """A verified account, hashed at the cost the test module set."""
    password_hash = bcrypt.hashpw(passwords.normalize(password).encode(), bcrypt.gensalt(rounds=4)).decode()
    with session_scope() as db:
        user = User(
            email=email,
            first_name="Ann",
            last_name="Lee",
            password_hash=password_hash,
            email_verified_at=now,
            created_at=now,
        )
        db.add(user)
        db.flush()
        assert user.id is not None
        return user.id


def connect_shop(user_id: int, shop_domain: str, *, products: int = 2) -> int:
    """A connected store with an import job and `products` products, each with a variant and an image."""
    with session_scope() as db:
        shop = ShopConnection(
            user_id=user_id,
            shop_domain=shop_domain,
            shop_name=f"Shop of {shop_domain}",
            scopes="read_products,read_inventory",
            access_token_enc=encrypt("shpat_access"),
            refresh_token_enc=encrypt("shprt_refresh"),
        )
        db.add(shop)
        db.flush()
        assert shop.id is not None
        db.add(ImportJob(shop_connection_id=shop.id, status="completed", products_seen=products))
        for index in range(products):
            product_gid = f"gid://shopify/Product/{index}"
            db.add(
                ShopifyProduct(
                    shop_connection_id=shop.id,
                    shopify_id=product_gid,
                    title=f"Product {index} from {shop_domain}",
                    handle=f"product-{index}",
                    vendor="Vendor",
                    product_type="Thing",
                    status="active",
                )
            )
            db.add(
                ShopifyVariant(
                    shop_connection_id=shop.id,
                    shopify_id=f"gid://shopify/ProductVariant/{index}",
                    product_shopify_id=product_gid,
                    title="Default",
                )
            )
            db.add(
                ShopifyProductImage(
                    shop_connection_id=shop.id,
                    shopify_id=f"gid://shopify/MediaImage/{index}",
                    product_shopify_id=product_gid,
                    url=f"https://cdn.example/{shop_domain}/{index}.jpg",
                )
            )
        return shop.id


def connect_amazon(user_id: int) -> None:
    with session_scope() as db:
        db.add(
            AmazonConnection(
                user_id=user_id,
                marketplace_id="ATVPDKIKX0DER",
                region="na",
                seller_id="A2DEMOOUTFITNA",
                store_name="Demo Outfitters",
                refresh_token_enc=encrypt("Atzr|refresh"),
            )
        )
