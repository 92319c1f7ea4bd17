"""How `reflex run --env prod` serves us: Granian restarts a crashed backend worker instead of stopping.

Reflex starts Granian with its defaults, and Granian's default is to shut the
whole server down when one worker process dies (an out-of-memory kill, a
segfault in a C extension). Every merchant would lose the app for one bad
process. With respawning, the supervisor forks a replacement; the browsers that
were connected to the dead worker reconnect to a live one and find their
session in the cookie and their state in Redis.
"""

from __future__ import annotations


def respawn_crashed_workers() -> None:
    """Make Granian's server respawn failed workers; Reflex imports the server class when it starts it."""
    try:
        from granian import server
    except ImportError:  # Reflex runs on Uvicorn when Granian is not installed
        return
    if getattr(server.Server, "respawns_crashed_workers", False):
        return

    class RespawningServer(server.Server):  # type: ignore[misc,valid-type]
        respawns_crashed_workers = True

        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("respawn_failed_workers", True)
            super().__init__(*args, **kwargs)

    server.Server = RespawningServer
