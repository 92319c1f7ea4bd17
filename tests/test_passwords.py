"""Password policy (the live checklist and form errors) and bcrypt hashing off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import bcrypt
import pytest

from offamazon_ui.services import passwords
from offamazon_ui.services.passwords import password_rules, validate_new_password

GOOD = "Blue-Harbor-42"
ALL_RULES = {"length", "uppercase", "lowercase", "number", "special", "not_too_long", "not_common", "not_email_name"}


def failed(password: str, email: str = "") -> set[str]:
    return {rule.name for rule in password_rules(password, email) if not rule.passed}


@pytest.mark.parametrize(
    ("password", "failures"),
    [
        (GOOD, set()),
        ("Bh-42xy", {"length"}),
        ("Bh-42xyz", set()),
        ("blue-harbor-42", {"uppercase"}),
        ("BLUE-HARBOR-42", {"lowercase"}),
        ("Blue-Harbor-xy", {"number"}),
        ("BlueHarbor42", {"special"}),
        ("Blue Harbor 42", {"special"}),  # spaces are allowed but are not the special character
        ("Ärger-Öfen-42", set()),  # accented letters count as upper and lower case
        ("", ALL_RULES - {"not_too_long"}),  # an empty field ticks nothing but "not too long"
    ],
)
def test_policy_table(password: str, failures: set[str]) -> None:
    assert failed(password) == failures


def test_rules_have_labels_for_the_checklist_in_a_stable_order() -> None:
    rules = password_rules("x")
    assert [rule.name for rule in rules] == [
        "length",
        "uppercase",
        "lowercase",
        "number",
        "special",
        "not_too_long",
        "not_common",
        "not_email_name",
    ]
    assert rules[0].label == "Minimum 8 characters"
    assert all(rule.label for rule in rules)


def test_seventy_two_bytes_is_the_limit_counted_in_utf8_bytes() -> None:
    assert failed("Aa1!" + "x" * 68) == set()  # 72 bytes
    assert failed("Aa1!" + "x" * 69) == {"not_too_long"}  # 73 bytes
    accented = "Aa1!" + "é" * 35  # 39 characters but 74 bytes
    assert failed(accented) == {"not_too_long"}
    message = validate_new_password(accented, accented, "")["password"]
    assert "72 bytes" in message and "accented" in message


def test_more_than_128_characters_is_refused_before_normalising() -> None:
    assert "not_too_long" in failed("Aa1!" + "x" * 125)


def test_nfkc_applies_before_checks() -> None:
    full_width = "Ｂｌｕｅ－Ｈａｒｂｏｒ－４２－Ｂｌｕｅ－Ｈａｒｂｏｒ"  # 3 bytes each as typed, 1 byte after NFKC
    assert len(full_width.encode()) > 72
    assert failed(full_width) == set()
    # Full-width "Password1!" is the common "password1!" after NFKC.
    assert failed("Ｐａｓｓｗｏｒｄ１！") == {"not_common"}


def test_common_passwords_are_refused_whatever_their_case() -> None:
    assert len(passwords.common_passwords()) >= 10_000
    assert "not_common" in failed("Password1!")
    assert "not_common" in failed("P@SSW0RD")
    assert "not_common" not in failed(GOOD)
    assert "too common" in validate_new_password("Password1!", "Password1!", "")["password"]


def test_password_must_not_contain_the_email_name() -> None:
    assert failed(GOOD, "harbor@example.com") == {"not_email_name"}
    assert failed(GOOD, "HARBOR@example.com") == {"not_email_name"}
    assert failed(GOOD, "harbor+shop@example.com") == {"not_email_name"}  # the name without the +tag
    assert failed(GOOD, "someone@example.com") == set()
    # Local parts shorter than 3 characters are too likely to appear by chance.
    assert failed("Blue-ab-Harbor-42", "ab@example.com") == set()
    assert "email" in validate_new_password(GOOD, GOOD, "Harbor@example.com")["password"]


def test_validate_new_password_attributes_errors_to_fields() -> None:
    assert validate_new_password(GOOD, GOOD, "ann@example.com") == {}
    assert validate_new_password(GOOD, "Blue-Harbor-43", "ann@example.com") == {
        "confirm_password": "Passwords do not match."
    }
    assert set(validate_new_password("", "", "ann@example.com")) == {"password", "confirm_password"}
    assert validate_new_password("short", "short", "")["password"] == "Password must be at least 8 characters."
    # The confirmation is compared in NFKC form, like the password itself.
    assert validate_new_password(GOOD, "Blue-Harbor-４２", "") == {}


async def test_hash_uses_bcrypt_cost_12_off_the_event_loop_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inline, a ~250 ms cost-12 hash would stall every merchant's events; it must run in a worker thread.
    (How little the loop is delayed is measured by `make bench`, not asserted here.)"""
    hashing_threads: list[threading.Thread] = []
    real_hashpw = bcrypt.hashpw

    def recording_hashpw(password: bytes, salt: bytes) -> bytes:
        hashing_threads.append(threading.current_thread())
        return real_hashpw(password, salt)

    monkeypatch.setattr(passwords.bcrypt, "hashpw", recording_hashpw)
    hashed = await passwords.hash_password(GOOD)
    assert hashed.startswith("$2b$12$")
    assert hashing_threads and threading.main_thread() not in hashing_threads


async def test_verify_password(fast_bcrypt: None) -> None:
    hashed = await passwords.hash_password(GOOD)
    assert await passwords.verify_password(GOOD, hashed)
    assert not await passwords.verify_password("Blue-Harbor-43", hashed)
    assert await passwords.verify_password("Blue-Harbor-４２", hashed)  # same password after NFKC
    assert not await passwords.verify_password("x" * 200, hashed)


async def test_hashing_too_long_a_password_raises_a_clear_error(fast_bcrypt: None) -> None:
    with pytest.raises(passwords.PasswordTooLong, match="72 bytes"):
        await passwords.hash_password("Aa1!" + "é" * 35)


async def test_burn_costs_one_check_at_the_production_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []
    monkeypatch.setattr(bcrypt, "checkpw", lambda password, hashed: seen.append(hashed) or False)
    await passwords.burn_password_check("x" * 500)
    assert len(seen) == 1
    assert seen[0].startswith(b"$2b$12$") and len(seen[0]) == 60


async def test_concurrent_hashes_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def slow_hash(password: bytes, salt: bytes) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.03)
        with lock:
            running -= 1
        return b"$2b$04$" + b"." * 53

    monkeypatch.setattr(passwords, "HASH_CONCURRENCY", 2)
    monkeypatch.setattr(bcrypt, "hashpw", slow_hash)
    await asyncio.gather(*(passwords.hash_password(GOOD) for _ in range(6)))
    assert most == 2
