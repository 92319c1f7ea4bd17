"""Send one request to Amazon with bounded retries for outages and short throttling.

Retried: 5xx answers, timeouts and connection errors (exponential backoff), and
429 answers whose advertised wait is short. A 429 that asks for a long wait is
returned at once: the merchant is told to try again rather than kept waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from offamazon_ui.services.amazon.problems import AmazonCheckFailed, unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0
    timeout: float = 10.0
    max_throttle_wait: float = 2.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based): base, 2×base, 4×base … capped."""
        return min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


def throttle_wait(response: httpx.Response) -> float | None:
    """Seconds Amazon wants us to wait, from Retry-After or x-amzn-RateLimit-Limit (requests per second)."""
    retry_after = response.headers.get("retry-after", "").strip()
    if retry_after:
        if retry_after.isdigit():
            return float(retry_after)
        try:
            moment = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    try:
        rate = float(response.headers.get("x-amzn-ratelimit-limit", ""))
    except ValueError:
        return None
    if rate > 0 and math.isfinite(rate):
        return 1.0 / rate
    return None


async def send(
    client: httpx.AsyncClient, method: str, url: str, *, policy: RetryPolicy, what: str, **kwargs: Any
) -> httpx.Response:
    """The last response (possibly 429 or 5xx); raises AmazonCheckFailed(unavailable) if no answer ever came.

    `what` names the call in logs; the URL and headers are not logged because they may carry secrets.
    """
    for attempt in range(1, policy.attempts + 1):
        last_attempt = attempt == policy.attempts
        try:
            response = await client.request(method, url, timeout=policy.timeout, **kwargs)
        except httpx.RequestError as error:
            log.warning("Amazon %s attempt %d/%d failed: %s", what, attempt, policy.attempts, type(error).__name__)
            if last_attempt:
                raise AmazonCheckFailed(unavailable()) from None
            await policy.sleep(policy.backoff(attempt))
            continue

        if response.status_code >= 500:
            log.warning(
                "Amazon %s attempt %d/%d answered %d (request id %s)",
                what,
                attempt,
                policy.attempts,
                response.status_code,
                request_id(response),
            )
            if last_attempt:
                return response
            await policy.sleep(policy.backoff(attempt))
            continue

        if response.status_code == 429:
            wait = throttle_wait(response)
            delay = policy.backoff(attempt) if wait is None else wait
            log.info("Amazon %s throttled (wait %.1fs, request id %s)", what, delay, request_id(response))
            if last_attempt or delay > policy.max_throttle_wait:
                return response
            await policy.sleep(delay)
            continue

        return response
    raise AssertionError("unreachable: the last attempt always returns or raises")


def request_id(response: httpx.Response) -> str:
    return response.headers.get("x-amzn-requestid") or response.headers.get("x-amzn-request-id") or "-"
