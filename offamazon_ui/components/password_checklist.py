"""The live checklist under a new-password field: one line per rule, ticked as the merchant types.

The state behind it keeps only the booleans (see `password_checks`); the
password itself reaches the server with each keystroke and is never stored.
"""

from __future__ import annotations

import reflex as rx
from reflex.vars.base import Var

from offamazon_ui.services import passwords

CHECKLIST = [(rule.name, rule.label) for rule in passwords.password_rules("")]
MAX_CHECKED_CHARS = 1000


def password_checks(value: object, email: str = "") -> dict[str, bool]:
    """The checklist's state for what the browser sent; anything that is not text counts as empty."""
    password = value if isinstance(value, str) else ""
    return {rule.name: rule.passed for rule in passwords.password_rules(password[:MAX_CHECKED_CHARS], email)}


def password_checklist(checks: Var[dict[str, bool]]) -> rx.Component:
    return rx.el.ul(
        *[
            rx.el.li(
                rx.hstack(
                    rx.cond(
                        checks.get(name, False),
                        rx.icon("circle-check", size=14, color=rx.color("grass", 10)),
                        rx.icon("circle", size=14, color=rx.color("gray", 9)),
                    ),
                    rx.text(
                        label,
                        size="1",
                        color=rx.cond(checks.get(name, False), rx.color("grass", 11), rx.color("gray", 11)),
                    ),
                    spacing="2",
                    align="center",
                ),
                data_passed=rx.cond(checks.get(name, False), "true", "false"),
                data_rule=name,
            )
            for name, label in CHECKLIST
        ],
        aria_label="Password requirements",
        aria_live="polite",
        style={"listStyle": "none", "padding": 0, "margin": 0, "display": "grid", "gap": "2px"},
    )
