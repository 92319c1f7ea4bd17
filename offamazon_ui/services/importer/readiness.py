"""Whether a variant can be listed on Amazon as it is: the rules, their labels, and the GS1 check digit.

A variant's failed rules are stored as a bitmask (one bit per rule, see RULES)
so the dashboard can count and filter them in SQL on SQLite and PostgreSQL.
Product-level rules (brand, title, image) are recorded on every variant of the
product; SKU uniqueness is shop-wide and set after all variants are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

MAX_TITLE_LENGTH = 200
GTIN_LENGTHS = (12, 13, 14)


@dataclass(frozen=True)
class Rule:
    name: str
    bit: int
    label: str


GTIN = Rule("gtin", 1, "Missing or invalid GTIN (UPC/EAN)")
BRAND = Rule("brand", 2, "Missing brand (Shopify vendor)")
TITLE = Rule("title", 4, f"Title missing or longer than {MAX_TITLE_LENGTH} characters")
IMAGE = Rule("image", 8, "No product image")
PRICE = Rule("price", 16, "Price must be greater than 0")
SKU_MISSING = Rule("sku_missing", 32, "Missing SKU")
SKU_DUPLICATE = Rule("sku_duplicate", 64, "SKU used by another variant in your store")

RULES: tuple[Rule, ...] = (GTIN, BRAND, TITLE, IMAGE, PRICE, SKU_MISSING, SKU_DUPLICATE)
RULES_BY_NAME = {rule.name: rule for rule in RULES}
RULE_LABELS = {rule.name: rule.label for rule in RULES}
PRODUCT_RULES_MASK = BRAND.bit | TITLE.bit | IMAGE.bit
VARIANT_RULES_MASK = GTIN.bit | PRICE.bit | SKU_MISSING.bit


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10: weights 3,1,3,… from the rightmost digit of the body (the GTIN without its check digit)."""
    reversed_body = body[::-1]
    total = 3 * sum(map(int, reversed_body[0::2])) + sum(map(int, reversed_body[1::2]))
    return (10 - total % 10) % 10


def is_valid_gtin(value: str | None) -> bool:
    """A UPC-12, EAN-13 or GTIN-14 of ASCII digits with a correct check digit (all zeros is not a GTIN)."""
    if not value or len(value) not in GTIN_LENGTHS or not (value.isascii() and value.isdigit()):
        return False
    return value.strip("0") != "" and gtin_check_digit(value[:-1]) == int(value[-1])


def product_problems(*, title: str | None, vendor: str | None, has_image: bool) -> int:
    problems = 0
    if not (vendor or "").strip():
        problems |= BRAND.bit
    if not (title or "").strip() or len(title or "") > MAX_TITLE_LENGTH:
        problems |= TITLE.bit
    if not has_image:
        problems |= IMAGE.bit
    return problems


def variant_problems(*, barcode: str | None, price: Decimal | None, sku: str | None) -> int:
    problems = 0
    if not is_valid_gtin(barcode):
        problems |= GTIN.bit
    if price is None or price <= 0:
        problems |= PRICE.bit
    if not (sku or "").strip():
        problems |= SKU_MISSING.bit
    return problems


def rule_names(problems: int) -> tuple[str, ...]:
    return tuple(rule.name for rule in RULES if problems & rule.bit)


def rules_for(problems: int) -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if problems & rule.bit)
