"""Deterministic product catalogs for emulated shops, generated on demand.

Product n is computed from (seed, n) alone, so a 20,000-product shop costs no
memory until it is read, and every run sees the same catalog. The data is
deliberately messy the way real shops are: missing SKUs, barcodes with wrong
check digits, very long titles, drafts and archived products, and products
with more variants than one page of a nested connection.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

MAX_VARIANTS = 2048
PRODUCT_ID_BASE = 8_000_000_000_000
VARIANT_ID_BASE = 40_000_000_000_000
MEDIA_ID_BASE = 30_000_000_000_000
INVENTORY_ITEM_ID_BASE = 50_000_000_000_000
MEDIA_PER_PRODUCT_SLOTS = 16

VENDORS = (
    "Northwind Outfitters", "Acme Home", "Bluebird Kids", "Cedar & Co", "Solstice Sports",
    "Harbor Kitchen", "Lumen Electronics", "Maple Leaf Crafts", "Atlas Travel Gear", "Pebble Pet Supply",
)  # fmt: skip
PRODUCT_TYPES = (
    "T-Shirt", "Hoodie", "Backpack", "Water Bottle", "Coffee Mug", "Yoga Mat", "Headphones", "Phone Case",
    "Dog Toy", "Cutting Board", "Candle", "Sneakers", "Notebook", "Desk Lamp", "",
)  # fmt: skip
ADJECTIVES = (
    "Classic", "Organic", "Premium", "Eco", "Vintage", "Ultra-Light", "Handmade", "Everyday", "Deluxe", "Compact",
    "Rugged", "Minimalist",
)  # fmt: skip
MATERIALS = ("Cotton", "Bamboo", "Steel", "Leather", "Ceramic", "Recycled", "Wool", "Oak", "Silicone", "Linen")
TAGS = ("new", "sale", "bestseller", "gift", "summer", "winter", "eco-friendly", "limited", "clearance", "bundle")
SIZES = ("XS", "S", "M", "L", "XL", "XXL")
COLORS = ("Black", "White", "Red", "Navy", "Green", "Grey", "Pink", "Yellow", "Orange", "Purple", "Teal", "Brown")
STYLES = ("Standard", "Slim", "Relaxed", "Tall", "Petite", "Athletic", "Classic", "Oversized", "Cropped", "Long")
STATUSES = ("ACTIVE",) * 70 + ("DRAFT",) * 14 + ("ARCHIVED",) * 10 + ("UNLISTED",) * 6
LONG_TITLE_FILLER = (
    "with Reinforced Stitching, Moisture-Wicking Breathable Fabric, Tagless Comfort Collar, Machine Washable, "
    "Ethically Sourced Materials and a Lifetime Satisfaction Guarantee for Everyday Adventures"
)
EPOCH = datetime(2019, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CatalogProduct:
    index: int
    numeric_id: int
    title: str
    handle: str
    vendor: str
    product_type: str
    status: str
    tags: tuple[str, ...]
    description_html: str
    created_at: str
    updated_at: str
    published_at: str | None
    variant_count: int
    image_count: int
    options: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class CatalogVariant:
    product_index: int
    position: int
    numeric_id: int
    title: str
    sku: str | None
    barcode: str | None
    price: str
    compare_at_price: str | None
    inventory_quantity: int
    selected_options: tuple[tuple[str, str], ...]
    tracked: bool
    created_at: str
    updated_at: str


def gtin_check_digit(body: str) -> str:
    """GS1 check digit: weights 3,1,3,… from the rightmost digit of the body."""
    total = sum(int(digit) * (3 if position % 2 == 0 else 1) for position, digit in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def is_valid_gtin(value: str) -> bool:
    return value.isdigit() and len(value) in (8, 12, 13, 14) and gtin_check_digit(value[:-1]) == value[-1]


def _barcode(rng: random.Random) -> str | None:
    kind = rng.choices(("upc", "ean", "bad_check", "none", "empty", "junk"), weights=(40, 28, 10, 14, 4, 4))[0]
    if kind == "none":
        return None
    if kind == "empty":
        return ""
    if kind == "junk":
        return rng.choice(("N/A", "123", "TBD", "0000"))
    body = "".join(rng.choice("0123456789") for _ in range(11 if kind == "upc" else 12))
    if kind == "ean":
        body = rng.choice(("40", "50", "76", "84", "87")) + body[2:]
    check = gtin_check_digit(body)
    if kind == "bad_check":
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return body + check


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80]


def _options_for(count: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if count <= 1:
        return (("Title", ("Default Title",)),)
    if count <= len(SIZES):
        return (("Size", SIZES[:count]),)
    if count <= len(SIZES) * len(COLORS):
        colors = -(-count // len(SIZES))
        return (("Size", SIZES), ("Color", COLORS[:colors]))
    styles = -(-count // (len(SIZES) * len(COLORS)))
    return (("Size", SIZES), ("Color", COLORS), ("Style", STYLES[:styles]))


@dataclass
class Catalog:
    """`variants_per_product` fixes the variant count (else 1–6 at random); `variant_counts` sets single products'.

    Edits made through the control API (a merchant changing the shop) are layered over the generated products:
    changed fields per product and per variant, deleted products, and products added past the generated ones.
    """

    seed: str
    product_count: int
    variants_per_product: int | None = None
    variant_counts: dict[int, int] = field(default_factory=dict)
    product_changes: dict[int, dict[str, Any]] = field(default_factory=dict)
    variant_changes: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._generated = lru_cache(maxsize=4096)(self._product)
        self._orders: dict[tuple[str, bool, str], list[int]] = {}

    def product(self, index: int) -> CatalogProduct:
        if index in self.deleted:
            raise IndexError(index)
        product = self._generated(index)
        changes = self.product_changes.get(index)
        return replace(product, **changes) if changes else product

    def change_product(self, index: int, updated_at: str, **fields: Any) -> None:
        """Set product fields (title, vendor, status, …); raises IndexError for an unknown or deleted product."""
        self.product(index)
        self.product_changes.setdefault(index, {}).update(fields, updated_at=updated_at)
        self._orders.clear()

    def change_variant(self, index: int, position: int, updated_at: str, **fields: Any) -> None:
        """Set variant fields (sku, price, barcode, …); the product's updated_at moves too, as in Shopify."""
        self.variant(index, position)
        self.variant_changes.setdefault((index, position), {}).update(fields, updated_at=updated_at)
        self.change_product(index, updated_at)

    def delete_product(self, index: int) -> None:
        self.product(index)
        self.deleted.add(index)
        self._orders.clear()

    def create_product(self, created_at: str, **fields: Any) -> int:
        """A new product after the generated ones (generated like them unless `fields` say otherwise)."""
        index = self.product_count
        self.product_count += 1
        self.product_changes[index] = {**fields, "created_at": created_at, "updated_at": created_at}
        self._orders.clear()
        return index

    def _product(self, index: int) -> CatalogProduct:
        if not 0 <= index < self.product_count:
            raise IndexError(index)
        rng = random.Random(f"{self.seed}/product/{index}")
        vendor = rng.choice(VENDORS)
        product_type = rng.choice(PRODUCT_TYPES)
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {product_type or 'Gift Set'}"
        if index % 13 == 5:
            title = f"{title} {LONG_TITLE_FILLER}"
        variant_count = self.variant_counts.get(index) or self.variants_per_product or rng.randint(1, 6)
        created = EPOCH + timedelta(seconds=rng.randint(0, 7 * 365 * 86400))
        updated = created + timedelta(seconds=rng.randint(0, 300 * 86400))
        status = rng.choice(STATUSES)
        description = (
            f"<p>The {title.lower()} from {vendor}.</p><ul><li>Material: {rng.choice(MATERIALS)}</li>"
            f"<li>Care: {rng.choice(('hand wash', 'machine wash', 'wipe clean'))}</li></ul>"
        )
        return CatalogProduct(
            index=index,
            numeric_id=PRODUCT_ID_BASE + index + 1,
            title=title,
            handle=f"{_slug(title)}-{index + 1}",
            vendor=vendor,
            product_type=product_type,
            status=status,
            tags=tuple(sorted(rng.sample(TAGS, rng.randint(0, 4)))),
            description_html=description if rng.random() > 0.05 else "",
            created_at=_timestamp(created),
            updated_at=_timestamp(updated),
            published_at=_timestamp(created) if status == "ACTIVE" else None,
            variant_count=min(variant_count, MAX_VARIANTS),
            image_count=0 if rng.random() < 0.1 else rng.randint(1, 4),
            options=_options_for(variant_count),
        )

    def variant(self, product_index: int, position: int) -> CatalogVariant:
        product = self.product(product_index)
        if not 1 <= position <= product.variant_count:
            raise IndexError(position)
        rng = random.Random(f"{self.seed}/variant/{product_index}/{position}")
        base_price = random.Random(f"{self.seed}/price/{product_index}").uniform(4, 250)
        price = round(base_price * rng.uniform(0.9, 1.2), 0) - 0.01 if rng.random() > 0.02 else 0.0
        selected = _selected_options(product.options, position - 1)
        on_sale = rng.random() < 0.2
        variant = CatalogVariant(
            product_index=product_index,
            position=position,
            numeric_id=VARIANT_ID_BASE + product_index * 4096 + position,
            title=" / ".join(value for _, value in selected),
            sku=None if rng.random() < 0.08 else f"{product.vendor[:3].upper()}-{product_index + 1:05d}-{position:03d}",
            barcode=_barcode(rng),
            price=f"{max(price, 0):.2f}",
            compare_at_price=f"{price * 1.25:.2f}" if on_sale and price > 0 else None,
            inventory_quantity=rng.choice((0, rng.randint(-3, 250), rng.randint(1, 40))),
            selected_options=selected,
            tracked=rng.random() > 0.1,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )
        changes = self.variant_changes.get((product_index, position))
        return replace(variant, **changes) if changes else variant

    def order(self, sort_key: str, reverse: bool, search: str = "") -> Sequence[int]:
        """Product indexes in the requested order, filtered by a search string (cached per combination)."""
        if sort_key in ("ID", "RELEVANCE") and not search and not self.deleted:
            indexes: Sequence[int] = range(self.product_count)
            return indexes[::-1] if reverse else indexes
        key = (sort_key, reverse, search)
        if key not in self._orders:
            live = (i for i in range(self.product_count) if i not in self.deleted)
            matching = [i for i in live if matches_search(self.product(i), search)]
            sort_value = _SORT_VALUES.get(sort_key)
            if sort_value is not None:
                matching.sort(key=lambda i: sort_value(self.product(i)))
            if reverse:
                matching.reverse()
            if len(self._orders) > 16:
                self._orders.clear()
            self._orders[key] = matching
        return self._orders[key]


_SORT_VALUES = {
    "TITLE": lambda p: p.title.lower(),
    "UPDATED_AT": lambda p: p.updated_at,
    "CREATED_AT": lambda p: p.created_at,
    "PUBLISHED_AT": lambda p: p.published_at or "",
    "VENDOR": lambda p: p.vendor,
    "PRODUCT_TYPE": lambda p: p.product_type,
    "INVENTORY_TOTAL": lambda p: p.variant_count,
}


def _selected_options(options: tuple[tuple[str, tuple[str, ...]], ...], number: int) -> tuple[tuple[str, str], ...]:
    selected = []
    for name, values in options:
        selected.append((name, values[number % len(values)]))
        number //= len(values)
    return tuple(selected)


_TERM = re.compile(r"(\w+):(\"[^\"]*\"|'[^']*'|\S+)|(\S+)")


def matches_search(product: CatalogProduct, search: str) -> bool:
    """A subset of Shopify's product search syntax: status:, vendor:, product_type:, tag:, and title words."""
    for match in _TERM.finditer(search or ""):
        name, raw, word = match.groups()
        if word is not None:
            if word.upper() in ("AND", "OR") or word.lower() in product.title.lower():
                continue
            return False
        value = raw.strip("\"'").lower()
        field_value = {
            "status": product.status.lower(),
            "vendor": product.vendor.lower(),
            "product_type": product.product_type.lower(),
        }.get(name.lower())
        if name.lower() == "tag":
            if value not in product.tags:
                return False
        elif name.lower() == "title":
            if value not in product.title.lower():
                return False
        elif field_value is not None and field_value not in value.split(","):
            return False
    return True


def demo_small() -> Catalog:
    # Products 7 and 23 have more variants than one nested page (100 and the 250 maximum).
    return Catalog(seed="demo-small", product_count=40, variant_counts={7: 120, 23: 260})


def demo_large() -> Catalog:
    return Catalog(seed="demo-large", product_count=20_000, variants_per_product=3)
