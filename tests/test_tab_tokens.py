"""Who keeps a tab's token when it reconnects: two token managers stand for two backend workers on one Redis."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from offamazon_ui.tab_tokens import ALIVE_KEY_PREFIX, CrashTolerantTokenManager, keep_tab_tokens_across_crashes
from tests.redisdb import empty_redis_database, redis_available, redis_url

pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis answers on 127.0.0.1:6379 (CI has one)")

TOKEN = "6f1c1e8e-0d7e-4f43-9d0b-2b7b8c1d9a11"

Worker = Callable[[], CrashTolerantTokenManager]


@pytest.fixture
async def worker() -> AsyncIterator[Worker]:
    """Starts token managers as backend workers would, on a Redis database of their own."""
    started: list[CrashTolerantTokenManager] = []
    with empty_redis_database() as database:
        url = redis_url(database)

        def start() -> CrashTolerantTokenManager:
            manager = CrashTolerantTokenManager(redis.asyncio.Redis.from_url(url))
            manager.alive_seconds, manager.beat_seconds = 0.4, 0.1
            started.append(manager)
            return manager

        yield start
        for manager in started:
            await manager.close()


def crash(manager: CrashTolerantTokenManager) -> None:
    """The process dies: it stops renewing its alive key and deletes none of its socket records."""
    assert manager._heartbeat_task is not None
    manager._heartbeat_task.cancel()


async def owner(manager: CrashTolerantTokenManager, token: str) -> str | None:
    record = await manager.redis.get(manager._get_redis_key(token))
    return pickle.loads(record).instance_id if record else None  # noqa: S301  Reflex's record format


async def test_a_tab_whose_worker_crashed_keeps_its_token_on_another_worker(worker: Worker) -> None:
    first, second = worker(), worker()
    assert await first.link_token_to_sid(TOKEN, "sid-on-first") is None
    crash(first)

    assert await second.link_token_to_sid(TOKEN, "sid-on-second") is None

    assert await owner(second, TOKEN) == second.instance_id
    assert second.token_to_sid[TOKEN] == "sid-on-second"
    assert second.sid_to_token["sid-on-second"] == TOKEN


async def test_a_duplicated_tab_of_a_live_worker_still_gets_a_token_of_its_own(worker: Worker) -> None:
    first, second = worker(), worker()
    assert await first.link_token_to_sid(TOKEN, "original-tab") is None

    new_token = await second.link_token_to_sid(TOKEN, "duplicated-tab")

    assert new_token is not None and new_token != TOKEN
    assert await owner(first, TOKEN) == first.instance_id
    assert await owner(second, new_token) == second.instance_id


async def test_a_record_left_behind_by_the_same_workers_closed_socket_is_taken_back(worker: Worker) -> None:
    only = worker()
    assert await only.link_token_to_sid(TOKEN, "before-reconnect") is None
    # A disconnect drops the local link before it deletes the Redis record; the tab is back in between.
    only.token_to_socket.pop(TOKEN)
    only.sid_to_token.pop("before-reconnect")

    assert await only.link_token_to_sid(TOKEN, "after-reconnect") is None
    assert only.token_to_sid[TOKEN] == "after-reconnect"


async def test_a_live_socket_on_the_same_worker_is_not_taken_over(worker: Worker) -> None:
    only = worker()
    assert await only.link_token_to_sid(TOKEN, "original-tab") is None

    new_token = await only.link_token_to_sid(TOKEN, "duplicated-tab")

    assert new_token is not None and new_token != TOKEN
    assert only.token_to_sid[TOKEN] == "original-tab"


async def test_two_tabs_racing_for_a_dead_workers_token_do_not_share_it(worker: Worker) -> None:
    dead, left, right = worker(), worker(), worker()
    assert await dead.link_token_to_sid(TOKEN, "shared-before-crash") is None
    crash(dead)

    results = await asyncio.gather(
        left.link_token_to_sid(TOKEN, "left-tab"), right.link_token_to_sid(TOKEN, "right-tab")
    )

    assert sorted(result is None for result in results) == [False, True]
    keeper = left if results[0] is None else right
    assert await owner(keeper, TOKEN) == keeper.instance_id


async def test_a_worker_that_shuts_down_cleanly_withdraws_its_alive_key(worker: Worker) -> None:
    manager = worker()
    await manager.link_token_to_sid(TOKEN, "some-tab")
    alive_key = f"{ALIVE_KEY_PREFIX}{manager.instance_id}"
    probe = redis.asyncio.Redis.from_url(_url_of(manager))
    try:
        assert await probe.exists(alive_key)
        await manager.close()
        assert not await probe.exists(alive_key)
    finally:
        await probe.aclose()


def _url_of(manager: CrashTolerantTokenManager) -> str:
    kwargs = manager.redis.get_connection_kwargs()
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs['db']}"


def test_the_app_uses_the_crash_tolerant_manager_when_state_lives_in_redis() -> None:
    from reflex.utils.token_manager import LocalTokenManager, RedisTokenManager

    class Namespace:
        _token_manager: object

    class App:
        event_namespace = Namespace()

    app = App()
    app.event_namespace._token_manager = RedisTokenManager(redis.asyncio.Redis())
    keep_tab_tokens_across_crashes(app)
    assert isinstance(app.event_namespace._token_manager, CrashTolerantTokenManager)

    app.event_namespace._token_manager = local = LocalTokenManager()
    keep_tab_tokens_across_crashes(app)
    assert app.event_namespace._token_manager is local  # one worker, nothing to recover
