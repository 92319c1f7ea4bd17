"""A browser tab keeps its Reflex token, and so its page state, when its backend worker crashes.

Reflex keys a tab's state by the token the tab keeps in sessionStorage. With
several workers, Reflex records in Redis which worker holds each token's
websocket, and a tab connecting with a token that Redis lists as connected is
taken for a duplicated tab and handed a new token, with empty page state. A
worker that is killed never deletes its records, so every tab it served came
back as a "duplicate" for an hour: search, filters and the step in progress
were lost, and a merchant between register and verify was sent to log in.

Here each worker keeps a short-lived "alive" key in Redis. A tab whose token is
recorded against a worker whose key has expired takes its token back; a token
held by a live worker still gets a new one, as Reflex intends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import time

from reflex.utils.token_manager import RedisTokenManager, SocketRecord, TokenManager

log = logging.getLogger(__name__)

ALIVE_KEY_PREFIX = "offamazon_worker_alive_"
ALIVE_SECONDS = 2.0
BEAT_SECONDS = 0.5

# Replaces the record only if it is still the one we found: two tabs racing for
# the same dead worker's token must not both take it.
_REPLACE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    return 1
end
return 0
"""


class CrashTolerantTokenManager(RedisTokenManager):
    """Reflex's Redis token manager, plus a liveness key per worker so a crashed worker's tokens return."""

    alive_seconds: float = ALIVE_SECONDS
    beat_seconds: float = BEAT_SECONDS

    def __init__(self, redis) -> None:  # type: ignore[no-untyped-def]
        super().__init__(redis)
        self._heartbeat_task: asyncio.Task[None] | None = None

    def _alive_key(self, instance_id: str) -> str:
        return f"{ALIVE_KEY_PREFIX}{instance_id}"

    async def _beat(self) -> None:
        await self.redis.set(self._alive_key(self.instance_id), b"1", px=int(self.alive_seconds * 1000))

    async def _keep_beating(self) -> None:
        while True:
            await asyncio.sleep(self.beat_seconds)
            try:
                await self._beat()
            except Exception as error:  # Redis hiccup: keep trying, the key outlives one missed beat
                log.warning("could not renew this worker's alive key: %s", error)

    async def _ensure_heartbeat(self) -> None:
        if self._heartbeat_task is None or self._heartbeat_task.done():
            # The key must exist before this worker records any socket, or a peer would take it for dead.
            await self._beat()
            self._heartbeat_task = asyncio.create_task(self._keep_beating(), name="offamazon-worker-alive")

    async def _worker_is_gone(self, instance_id: str) -> bool:
        """Whether that worker has stopped renewing its key; waits out one key lifetime before saying no."""
        deadline = time.monotonic() + self.alive_seconds + self.beat_seconds
        while await self.redis.exists(self._alive_key(instance_id)):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.beat_seconds / 2)
        return True

    async def link_token_to_sid(self, token: str, sid: str) -> str | None:
        try:
            await self._ensure_heartbeat()
            if await self._reclaim(token, sid):
                return None
        except Exception as error:  # Redis trouble: Reflex's own path below logs and copes
            log.warning("could not check who holds a reconnecting tab's token: %s", error)
        return await super().link_token_to_sid(token, sid)

    async def _reclaim(self, token: str, sid: str) -> bool:
        """Take over a token whose socket was on a worker that died; False when it is not such a token."""
        key = self._get_redis_key(token)
        found = await self.redis.get(key)
        if not found:
            return False
        # Reflex's own record format; Redis is as trusted as for the pickled page state Reflex keeps there.
        previous = pickle.loads(found)  # noqa: S301
        if previous.instance_id == self.instance_id:
            # Our own record whose socket is no longer ours: its delete is still on the way.
            stale = self.sid_to_token.get(previous.sid) != token
        else:
            stale = await self._worker_is_gone(previous.instance_id)
        if not stale:
            return False
        record = SocketRecord(instance_id=self.instance_id, sid=sid)
        replaced = await self.redis.eval(
            _REPLACE_IF_UNCHANGED, 1, key, found, pickle.dumps(record), int(self.token_expiration)
        )
        if not replaced:
            return False
        self.token_to_socket[token] = record
        self.sid_to_token[sid] = token
        self._ensure_socket_record_task()
        return True

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
            with contextlib.suppress(Exception):
                await self.redis.delete(self._alive_key(self.instance_id))
        await super().close()


def keep_tab_tokens_across_crashes(app) -> None:  # type: ignore[no-untyped-def]
    """Give the app's websocket namespace our token manager when tab records live in Redis."""
    namespace = app.event_namespace
    # Reflex exposes no setting for the token manager; the namespace's attribute is the one hook.
    current: TokenManager | None = getattr(namespace, "_token_manager", None)
    if isinstance(current, RedisTokenManager) and not isinstance(current, CrashTolerantTokenManager):
        namespace._token_manager = CrashTolerantTokenManager(current.redis)
