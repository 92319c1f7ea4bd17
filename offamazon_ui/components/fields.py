"""Labelled form inputs whose error message sits right under the field."""

from __future__ import annotations

import reflex as rx
from reflex.vars.base import Var


def error_text(message: Var[str], element_id: str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.text(message, id=element_id, color=rx.color("red", 11), size="2", role="alert"),
    )


def field(
    label: str,
    name: str,
    error: Var[str],
    *,
    input_type: str = "text",
    autocomplete: str = "off",
    hint: rx.Component | None = None,
    trailing: rx.Component | None = None,
    **input_props: object,
) -> rx.Component:
    """An uncontrolled input: its value reaches the server only with the form's submit data."""
    input_id = f"field-{name.replace('_', '-')}"
    error_id = f"{input_id}-error"
    text_input = rx.input(
        id=input_id,
        name=name,
        type=input_type,
        auto_complete=autocomplete,
        aria_invalid=rx.cond(error != "", "true", "false"),
        aria_describedby=error_id,
        size="3",
        width="100%",
        **input_props,
    )
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=input_id),
        rx.hstack(text_input, trailing, width="100%", align="center") if trailing is not None else text_input,
        hint if hint is not None else rx.fragment(),
        error_text(error, error_id),
        spacing="1",
        width="100%",
        align="stretch",
    )


def reveal_toggle(shown: Var[bool], on_click: object, what: str = "password") -> rx.Component:
    """Show/hide button for a masked input (passwords, tokens)."""
    return rx.icon_button(
        rx.cond(shown, rx.icon("eye-off", size=16), rx.icon("eye", size=16)),
        type="button",
        variant="ghost",
        size="2",
        on_click=on_click,
        aria_label=rx.cond(shown, f"Hide {what}", f"Show {what}"),
        aria_pressed=rx.cond(shown, "true", "false"),
    )


def form_error(message: Var[str]) -> rx.Component:
    """A message about the whole form (a send that failed, a rate limit)."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", width="100%"),
    )


def notice(message: Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="info", color_scheme="blue", role="status", width="100%"),
    )
