"""Import a connected Shopify store's catalog into the database, with Amazon readiness per variant.

Write side: `enqueue_import` / `request_resync` queue a job; `run_import_job`
runs one (from any process); `run_import_runner` is the embedded runner to
register as a Reflex lifespan task. Read side (sync, for asyncio.to_thread):
`import_progress`, `catalog_summary`, `list_products`.
"""

from offamazon_ui.services.importer.catalog import (
    CatalogQueryError,
    CatalogSummary,
    ImportProgress,
    Problem,
    ProductItem,
    ProductPage,
    catalog_summary,
    import_progress,
    list_products,
)
from offamazon_ui.services.importer.execute import run_import_job
from offamazon_ui.services.importer.jobs import enqueue_import, request_resync
from offamazon_ui.services.importer.readiness import RULE_LABELS, RULES, is_valid_gtin
from offamazon_ui.services.importer.runner import run_import_runner

__all__ = [
    "RULES",
    "RULE_LABELS",
    "CatalogQueryError",
    "CatalogSummary",
    "ImportProgress",
    "Problem",
    "ProductItem",
    "ProductPage",
    "catalog_summary",
    "enqueue_import",
    "import_progress",
    "is_valid_gtin",
    "list_products",
    "request_resync",
    "run_import_job",
    "run_import_runner",
]
