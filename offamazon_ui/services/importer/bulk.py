"""The main strategy: one Shopify bulk export of every product with its variants and media.

Start the export (or find the one this job started before a restart), poll it
with a growing interval, then stream the JSONL file: the event loop only
downloads and splits lines, a worker thread parses and groups them (see
bundles.py) into batches, and the batches are upserted in order. The
checkpoint is the byte offset after the last stored bundle, so a resumed job
asks for the rest of the file with a Range header. A dropped download resumes
the same way within the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import orjson

from offamazon_ui.services.db import get_engine
from offamazon_ui.services.importer import jobs
from offamazon_ui.services.importer.bundles import BundleAssembler, ProductBundle
from offamazon_ui.services.importer.jobs import ClaimedJob
from offamazon_ui.services.importer.store import Batch, JobLease, SerialWriter
from offamazon_ui.services.shopify.errors import (
    BulkOperationFailed,
    BulkOperationInProgress,
    GraphQLQueryError,
    ShopifyUnreachable,
    ShopifyUserErrors,
)
from offamazon_ui.services.shopify.graphql import BulkOperation, ShopifyClient
from offamazon_ui.services.shopify.retry import RETRYABLE_STATUSES, RetryPolicy

log = logging.getLogger(__name__)

# Bulk queries take no `first`: Shopify walks every connection to its end.
IMPORT_BULK_QUERY = """
{
  products {
    edges { node {
      id title handle vendor productType status tags descriptionHtml updatedAt
      featuredMedia { ... on MediaImage { image { url } } }
      media { edges { node { id ... on MediaImage { image { url altText } } } } }
      variants { edges { node {
        id title sku barcode price compareAtPrice inventoryQuantity selectedOptions { name value }
      } } }
    } }
  }
}"""
POLL_FIRST_SECONDS = 1.0
POLL_MAX_SECONDS = 15.0
POLL_GROWTH = 1.5
EXPORT_MAX_WAIT_SECONDS = 6 * 3600.0
FEED_LINES = 2000  # lines handed to the worker thread at a time
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class _HideSignedUrls(logging.Filter):
    """httpx logs every request URL at INFO; a bulk file URL is pre-signed, so it is a credential until it expires."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.urls and isinstance(record.args, tuple):
            record.args = tuple(
                f"{arg.scheme}://{arg.host}/(bulk export file)" if isinstance(arg, httpx.URL) and str(arg) in self.urls
                else arg
                for arg in record.args
            )  # fmt: skip
        return True


_signed_urls = _HideSignedUrls()
logging.getLogger("httpx").addFilter(_signed_urls)


class BulkUnavailable(Exception):
    """The bulk export cannot be used for this shop right now; the job imports page by page instead."""


async def import_with_bulk(client: ShopifyClient, job: ClaimedJob) -> None:
    lease = job.lease
    offset = job.bulk_offset
    operation_id = job.bulk_operation_id
    if operation_id is None:
        operation_id = (await _start_export(client)).id
        await asyncio.to_thread(jobs.record_bulk_operation, lease, operation_id)
        offset = 0
    operation = await _wait_for_export(client, operation_id)
    log.info(
        "import job %s: bulk export ready (%s objects, %s bytes), reading from byte %s",
        lease.job_id,
        operation.object_count,
        operation.file_size,
        offset,
        extra={"import_event": "bulk_ready", "job_id": lease.job_id},
    )
    if operation.root_object_count:
        await asyncio.to_thread(jobs.record_products_total, lease, operation.root_object_count)
    if operation.url is not None:  # Shopify gives no file when the shop has no products
        await _ingest(operation.url, offset, lease, client.retry)


async def _start_export(client: ShopifyClient) -> BulkOperation:
    try:
        return await client.start_bulk_query(IMPORT_BULK_QUERY)
    except BulkOperationInProgress as error:
        raise BulkUnavailable("another bulk export is running for this shop") from error
    except (ShopifyUserErrors, GraphQLQueryError) as error:
        raise BulkUnavailable(f"Shopify refused the bulk export: {error}") from error


async def _wait_for_export(client: ShopifyClient, operation_id: str) -> BulkOperation:
    deadline = time.monotonic() + EXPORT_MAX_WAIT_SECONDS
    interval = POLL_FIRST_SECONDS
    while True:
        try:
            operation = await client.get_bulk_operation(operation_id)
        except BulkOperationFailed as error:  # Shopify no longer knows the operation
            raise BulkUnavailable(str(error)) from error
        if operation.status == "COMPLETED":
            return operation
        if operation.finished:
            raise BulkUnavailable(f"the bulk export ended as {operation.status} ({operation.error_code})")
        if time.monotonic() >= deadline:
            raise BulkUnavailable("the bulk export took too long")
        await asyncio.sleep(interval)
        interval = min(POLL_MAX_SECONDS, interval * POLL_GROWTH)


class _BulkSink:
    """Parses lines and groups them into batches of whole bundles; one call at a time, in a worker thread."""

    def __init__(self, lease: JobLease) -> None:
        self.lease = lease
        self.assembler = BundleAssembler()
        self.batch = Batch(lease)
        self.offset = 0

    def prepare(self, lines: list[tuple[bytes, int]], *, last: bool = False) -> list[tuple[Batch, int]]:
        """The batches completed by these lines, each with the byte offset to resume from once it is stored."""
        ready: list[tuple[Batch, int]] = []
        for raw, end_offset in lines:
            if raw.strip():
                bundle = self.assembler.add(orjson.loads(raw), end_offset)
                if bundle is not None:
                    self._add(bundle, ready)
        if last:
            bundle = self.assembler.finish()
            if bundle is not None:
                self._add(bundle, ready)
            if self.batch:
                ready.append((self.batch, self.offset))
        return ready

    def _add(self, bundle: ProductBundle, ready: list[tuple[Batch, int]]) -> None:
        self.batch.add(bundle)
        self.offset = bundle.end_offset
        if self.batch.due():
            ready.append((self.batch, self.offset))
            self.batch = Batch(self.lease)


async def _ingest(url: str, offset: int, lease: JobLease, retry: RetryPolicy) -> None:
    sink = _BulkSink(lease)
    writer = SerialWriter()
    # PostgreSQL stores a batch in its own process while this one parses the next. SQLite stores it in this
    # process, under the same interpreter lock as the parsing, where overlapping the two only adds contention.
    overlap = get_engine().dialect.name != "sqlite"

    async def store(lines: list[tuple[bytes, int]], last: bool = False) -> None:
        for batch, resume_at in await asyncio.to_thread(sink.prepare, lines, last=last):
            await writer.submit(batch, {"bulk_offset": resume_at})
            if not overlap:
                await writer.drain()

    pending: list[tuple[bytes, int]] = []
    try:
        async for lines in _read_lines(url, offset, retry):
            pending += lines
            if len(pending) >= FEED_LINES:
                await store(pending)
                pending = []
        await store(pending, last=True)
        await writer.drain()
    except BaseException:
        await writer.settle()
        raise


class _RetryableDownload(Exception):
    pass


async def _read_lines(url: str, start: int, retry: RetryPolicy) -> AsyncIterator[list[tuple[bytes, int]]]:
    """Complete lines of the file from byte `start`, each with the offset just after it.

    The URL is pre-signed storage: no access token is sent, and it is never logged.
    """
    hidden = str(httpx.URL(url))
    _signed_urls.urls.add(hidden)
    try:
        async for lines in _download(url, start, retry):
            yield lines
    finally:
        _signed_urls.urls.discard(hidden)


async def _download(url: str, start: int, retry: RetryPolicy) -> AsyncIterator[list[tuple[bytes, int]]]:
    position = start
    failures = 0
    async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT) as http:
        while True:
            headers = {"Range": f"bytes={position}-"} if position else {}
            try:
                async with http.stream("GET", url, headers=headers) as response:
                    if response.status_code == 416:  # nothing after `position`
                        return
                    if response.status_code in RETRYABLE_STATUSES:
                        raise _RetryableDownload()
                    if response.status_code not in (200, 206):
                        raise BulkUnavailable(f"the export file answered HTTP {response.status_code}")
                    skip = position if response.status_code == 200 else 0  # the server ignored our Range
                    pending = b""
                    async for chunk in response.aiter_bytes():
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                        *complete, pending = (pending + chunk).split(b"\n")
                        if complete:
                            lines = []
                            for line in complete:
                                position += len(line) + 1
                                lines.append((line, position))
                            failures = 0
                            yield lines
                    if pending:
                        position += len(pending)
                        yield [(pending, position)]
                    return
            except (httpx.TransportError, _RetryableDownload):
                failures += 1
                if failures >= retry.attempts:
                    raise ShopifyUnreachable(
                        "Downloading your products from Shopify kept failing. We'll retry automatically."
                    ) from None
                log.warning("bulk export download interrupted at byte %s; retrying (%s)", position, failures)
                await asyncio.sleep(retry.delay(failures))
