import pytest

from offamazon_ui.services.shopify.domains import is_shop_domain, normalize_shop_domain
from offamazon_ui.services.shopify.errors import InvalidShopDomain

ACCEPTED = [
    ("store-name.myshopify.com", "store-name.myshopify.com"),
    ("https://Store-Name.myshopify.com/admin/products", "store-name.myshopify.com"),
    ("  MY-STORE.MyShopify.com  ", "my-store.myshopify.com"),
    ("http://store.myshopify.com", "store.myshopify.com"),
    ("store.myshopify.com/", "store.myshopify.com"),
    ("store.myshopify.com?shop=evil.com", "store.myshopify.com"),
    ("store.myshopify.com#admin", "store.myshopify.com"),
    ("store.myshopify.com:443", "store.myshopify.com"),
    ("https://store.myshopify.com:8443/admin", "store.myshopify.com"),
    ("//store.myshopify.com", "store.myshopify.com"),
    ("store.myshopify.com.", "store.myshopify.com"),
    ("storename", "storename.myshopify.com"),
    ("Store-42", "store-42.myshopify.com"),
    ("https://admin.shopify.com/store/my-shop/products?x=1", "my-shop.myshopify.com"),
    ("admin.shopify.com/store/my-shop", "my-shop.myshopify.com"),
    ("0store.myshopify.com", "0store.myshopify.com"),
]

REJECTED = [
    "",
    "   ",
    "evil.com",
    "www.mystore.com",
    "x.myshopify.com.evil.com",
    "https://evil.com/x.myshopify.com",
    "javascript:alert(1)",
    "data:text/html,x.myshopify.com",
    "ftp://store.myshopify.com",
    "https://store.myshopify.com@evil.com",
    "https://evil.com@store.myshopify.com",
    "http://store.myshopify.com\\@evil.com",
    "-store.myshopify.com",
    "store_name.myshopify.com",
    "a.b.myshopify.com",
    "store name.myshopify.com",
    "bücher.myshopify.com",
    "myshopify.com",
    "https://admin.shopify.com/",
    "https://admin.shopify.com/store/evil.com",
    "x" * 256,
    "s" * 250 + ".myshopify.com",
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_addresses_become_the_canonical_domain(raw: str, expected: str) -> None:
    assert normalize_shop_domain(raw) == expected
    assert is_shop_domain(expected)


@pytest.mark.parametrize("raw", REJECTED)
def test_rejected_addresses_raise_a_message_for_the_shop_field(raw: str) -> None:
    with pytest.raises(InvalidShopDomain) as caught:
        normalize_shop_domain(raw)
    assert caught.value.field == "shop"
    assert "myshopify.com" in caught.value.message


def test_is_shop_domain_accepts_only_canonical_values() -> None:
    assert is_shop_domain("store.myshopify.com")
    assert not is_shop_domain("Store.myshopify.com")
    assert not is_shop_domain("store.myshopify.com/")
    assert not is_shop_domain("store.myshopify.com.evil.com")
