"""Pointing this process at other settings: the cached settings, engine and keys must be dropped with them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def clear_caches() -> None:
    from offamazon_ui import config
    from offamazon_ui.services import crypto, db

    config.get_settings.cache_clear()
    db.get_engine.cache_clear()
    for name in dir(crypto):
        function = getattr(crypto, name)
        if hasattr(function, "cache_clear"):
            function.cache_clear()


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set these variables (and the settings read from them) for this process and the ones it starts."""
    from offamazon_ui.services import db

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    clear_caches()
    try:
        yield
    finally:
        db.get_engine().dispose()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        clear_caches()
