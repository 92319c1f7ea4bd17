"""OFFAMAZON_PREVIOUS_SECRET_KEYS: the keys a rotation keeps readable, validated like the current one."""

from __future__ import annotations

from pathlib import Path

import pytest

from offamazon_ui.config import ConfigError, load_settings

CURRENT = "current-" + "c" * 40
OLD = "old-" + "o" * 40
OLDER = "older-" + "p" * 40


def settings(tmp_path: Path, previous: str | None) -> tuple[str, ...]:
    env = {"OFFAMAZON_DATA_DIR": str(tmp_path), "OFFAMAZON_SECRET_KEY": CURRENT}
    if previous is not None:
        env["OFFAMAZON_PREVIOUS_SECRET_KEYS"] = previous
    return load_settings(env).previous_secret_keys


def test_no_previous_keys_by_default(tmp_path: Path) -> None:
    assert settings(tmp_path, None) == ()
    assert settings(tmp_path, " , ") == ()


def test_previous_keys_are_a_comma_separated_list_in_order_without_repeats(tmp_path: Path) -> None:
    assert settings(tmp_path, f" {OLD} ,{OLDER},{OLD}") == (OLD, OLDER)


def test_short_previous_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^OFFAMAZON_PREVIOUS_SECRET_KEYS must list keys of at least 32") as error:
        settings(tmp_path, f"{OLD},short")
    assert OLD not in str(error.value)


def test_the_current_key_cannot_also_be_a_previous_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^OFFAMAZON_PREVIOUS_SECRET_KEYS must not contain OFFAMAZON_SECRET_KEY"):
        settings(tmp_path, f"{OLD},{CURRENT}")
