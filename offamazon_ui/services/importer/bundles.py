"""Group a bulk export's JSONL lines into products with their children, without holding the file.

Every node of a nested connection is its own line carrying `__parentId`.
Shopify writes children right after their parent only when asked to group
objects; otherwise a child may come before its parent or far from it. The
assembler keeps just the bundle being read: a product and the children right
next to it, in either order. A child whose parent is not the open bundle
starts a bundle of its own (product unknown); the store joins such children to
their product by Shopify id, and the final pass of the import recomputes what
depends on both. Bundles come out in file order and cover each line once, so
the end offset of a written bundle is a safe place to resume reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VARIANT_GID_PREFIX = "gid://shopify/ProductVariant/"


@dataclass
class ProductBundle:
    product_id: str
    product: dict[str, Any] | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    end_offset: int = 0  # bulk files: the byte just after the bundle's last line

    def attach(self, child: dict[str, Any]) -> None:
        if child["id"].startswith(VARIANT_GID_PREFIX):
            self.variants.append(child)
        elif image_url(child) is not None:
            self.images.append(child)
        # Other media (videos, 3D models) have no image to show or send to Amazon.


def image_url(media: dict[str, Any] | None) -> str | None:
    image = (media or {}).get("image")
    url = image.get("url") if isinstance(image, dict) else None
    return str(url) if url else None


class BundleAssembler:
    """Feed parsed lines in file order; get back each bundle once the next line shows it is complete."""

    def __init__(self) -> None:
        self._open: ProductBundle | None = None

    def add(self, line: dict[str, Any], end_offset: int) -> ProductBundle | None:
        parent_id = line.get("__parentId")
        current = self._open
        if parent_id is None:
            product_id = str(line["id"])
            if current is not None and current.product is None and current.product_id == product_id:
                current.product = line  # its children came first
                current.end_offset = end_offset
                return None
            self._open = ProductBundle(product_id, line, end_offset=end_offset)
            return current
        closed = None
        if current is None or current.product_id != parent_id:
            closed, current = current, ProductBundle(str(parent_id))
            self._open = current
        current.attach(line)
        current.end_offset = end_offset
        return closed

    def finish(self) -> ProductBundle | None:
        closed, self._open = self._open, None
        return closed
