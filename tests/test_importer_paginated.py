"""Falling back to paginated GraphQL when a bulk export cannot be used: exact results, pacing, faults, resume."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from offamazon_ui.services.importer import enqueue_import, run_import_job, store
from offamazon_ui.services.importer.paginated import PAGE_QUERY, PAGE_SIZE
from offamazon_ui.services.shopify.graphql import ShopifyClient
from tests.importer_fixtures import SMALL_SHOP, ImportSandbox, assert_imported_exactly, importer, job_row, shopify

__all__ = ["importer", "shopify"]


FAST_BUCKET = {"restore_rate": 2000.0}  # a Plus-like refill keeps these tests quick; pacing has its own test


async def _import(shop_connection_id: int) -> int:
    job_id = enqueue_import(shop_connection_id)
    await run_import_job(job_id)
    return job_id


async def _start_other_export(importer: ImportSandbox) -> None:
    """Another app of the merchant's (or a stuck earlier run) keeps a different bulk export busy."""
    importer.emulator.configure_shop(SMALL_SHOP, bulk_outcome="hang")
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{importer.shopify.base}/{SMALL_SHOP}/admin/api/2026-07/graphql.json",
            json={
                "query": 'mutation { bulkOperationRunQuery(query: "{ products { edges { node { id } } } }") '
                "{ bulkOperation { id } userErrors { message } } }"
            },  # fmt: skip
            headers={"X-Shopify-Access-Token": _any_token(importer)},
        )
    assert response.json()["data"]["bulkOperationRunQuery"]["bulkOperation"] is not None


def _any_token(importer: ImportSandbox) -> str:
    emulator = importer.emulator
    shop = emulator.shop(SMALL_SHOP)
    grant = emulator.redeem_code(shop, emulator.issue_code(shop, "test-shopify-app", ("read_products",)), False)
    return str(grant["access_token"])


@pytest.mark.parametrize("bulk_problem", ["export fails", "another export is running"])
async def test_falls_back_to_pages_when_bulk_is_unavailable(importer: ImportSandbox, bulk_problem: str) -> None:
    connection_id = await importer.connect()
    importer.emulator.configure_shop(SMALL_SHOP, **FAST_BUCKET)
    if bulk_problem == "export fails":
        importer.emulator.configure_shop(SMALL_SHOP, bulk_outcome="fail")
    else:
        await _start_other_export(importer)

    job_id = await _import(connection_id)

    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    assert job_row(job_id).strategy == "paginated"
    outcomes = [outcome for _status, outcome in importer.requests("graphql")]
    assert "max_cost" not in outcomes  # every page stayed under 1000 requested points


async def test_pages_are_paced_by_the_cost_bucket(importer: ImportSandbox) -> None:
    # A bucket that holds barely one page: without pacing most requests would be throttled.
    importer.emulator.configure_shop(SMALL_SHOP, bulk_outcome="fail", bucket_maximum=1000.0, restore_rate=4000.0)
    connection_id = await importer.connect()
    connecting = len(importer.requests("graphql"))
    job_id = await _import(connection_id)
    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    outcomes = [outcome for _status, outcome in importer.requests("graphql")[connecting:]]
    assert outcomes.count("ok") >= 8 and outcomes.count("throttled") <= 1


async def test_5xx_and_dropped_connections_while_paging(importer: ImportSandbox) -> None:
    importer.emulator.configure_shop(SMALL_SHOP, bulk_outcome="fail", **FAST_BUCKET)
    connection_id = await importer.connect()
    connecting = len(importer.requests("graphql"))
    emulator = importer.emulator
    # Six failures in a row: one more than the client's five attempts, so the job itself has to retry.
    for status in (500, 502, 503):
        emulator.inject_fault(SMALL_SHOP, "graphql", status=status)
    emulator.inject_fault(SMALL_SHOP, "graphql", kind="drop", times=2)
    emulator.inject_fault(SMALL_SHOP, "graphql", status=429, seconds=0.05)

    job_id = await _import(connection_id)
    waiting = job_row(job_id)
    assert waiting.status == "queued" and waiting.failures == 1 and waiting.run_after is not None
    assert waiting.last_error == "Shopify is not responding right now. We'll retry automatically in a few minutes."
    emulator.inject_fault(SMALL_SHOP, "graphql", kind="drop")
    emulator.inject_fault(SMALL_SHOP, "graphql", status=503)

    await run_import_job(job_id)

    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    assert job_row(job_id).last_error is None
    outcomes = [outcome for _status, outcome in importer.requests("graphql")[connecting:]]
    assert outcomes.count("fault") == 5 and outcomes.count("dropped") == 3


async def test_a_stopped_paginated_import_resumes_from_its_cursor(
    importer: ImportSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "BATCH_VARIANTS", 20)
    importer.emulator.configure_shop(SMALL_SHOP, bulk_outcome="fail", **FAST_BUCKET)
    connection_id = await importer.connect()
    job_id = enqueue_import(connection_id)
    task = asyncio.create_task(run_import_job(job_id))
    loop = asyncio.get_running_loop()
    original_write = store.write_batch
    writes = 0

    def write_and_stop_after_two(batch: store.Batch, checkpoint: dict[str, Any]) -> None:
        nonlocal writes
        original_write(batch, checkpoint)
        writes += 1
        if writes == 2:
            loop.call_soon_threadsafe(task.cancel)  # the app shuts down mid-import

    monkeypatch.setattr(store, "write_batch", write_and_stop_after_two)
    page_queries = _count_page_queries(monkeypatch)
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = job_row(job_id)
    assert stopped.status == "running" and stopped.lease_owner is None  # released for the next start
    assert stopped.strategy == "paginated" and stopped.page_cursor is not None
    assert 0 < stopped.products_seen < 40

    before_stop = len(page_queries)
    monkeypatch.setattr(store, "write_batch", original_write)
    await run_import_job(job_id)

    assert_imported_exactly(importer, connection_id, job_id, SMALL_SHOP)
    full_run = -(-40 // PAGE_SIZE)
    assert page_queries[before_stop] is not None  # continued after the stored cursor, not from the start
    assert len(page_queries) - before_stop < full_run and len(page_queries) <= full_run + 1
    assert len(importer.emulator.shop(SMALL_SHOP).bulk_jobs) == 1  # and did not try the failed export again


def _count_page_queries(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The `after` cursor of every products page requested (a spy: the real client still does the work)."""
    seen: list[str | None] = []
    original_query = ShopifyClient.query

    async def spy(self: ShopifyClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        if query == PAGE_QUERY:
            seen.append((variables or {}).get("after"))
        return await original_query(self, query, variables)

    monkeypatch.setattr(ShopifyClient, "query", spy)
    return seen
