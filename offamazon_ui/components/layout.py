"""The page frame: header with product name, onboarding progress and account menu."""

from __future__ import annotations

import reflex as rx

from offamazon_ui import routes
from offamazon_ui.state import SessionState

SUPPORT_EMAIL = "support@cedcommerce.com"


def _step(index: int, label: str, current: int) -> rx.Component:
    done = index < current
    active = index == current
    return rx.hstack(
        rx.box(
            rx.cond(done, rx.icon("check", size=14), rx.text(str(index + 1), size="1", weight="bold")),
            width="24px",
            height="24px",
            border_radius="50%",
            display="flex",
            align_items="center",
            justify_content="center",
            background=rx.color("accent", 9) if (done or active) else rx.color("gray", 4),
            color="white" if (done or active) else rx.color("gray", 11),
        ),
        rx.text(
            label, size="2", weight="medium" if active else "regular", color=rx.color("gray", 12 if active else 11)
        ),
        spacing="2",
        align="center",
        aria_current="step" if active else None,
    )


def progress(current: int) -> rx.Component:
    """Register → Verify → Shopify → Amazon → Dashboard, with the current step marked."""
    items: list[rx.Component] = []
    for index, (label, _route) in enumerate(routes.ONBOARDING_STEPS):
        if index:
            items.append(rx.separator(size="1", width="24px", display=["none", "none", "block"]))
        items.append(_step(index, label, current))
    return rx.el.nav(
        rx.hstack(*items, spacing="3", align="center", wrap="wrap"),
        aria_label="Onboarding progress",
    )


def header(current_step: int | None) -> rx.Component:
    return rx.el.header(
        rx.flex(
            rx.vstack(
                rx.heading("Off-Amazon Selection", size="5"),
                rx.text("CedCommerce Integration", size="1", color=rx.color("gray", 11)),
                spacing="0",
            ),
            rx.spacer(),
            progress(current_step) if current_step is not None else rx.fragment(),
            rx.spacer(),
            rx.cond(
                SessionState.signed_in,
                rx.hstack(
                    rx.text(SessionState.user_name, size="2", data_testid="user-name"),
                    rx.link("Settings", href=routes.SETTINGS, size="2"),
                    rx.button("Log out", variant="soft", size="1", on_click=SessionState.log_out),
                    align="center",
                ),
            ),
            align="center",
            gap="4",
            wrap="wrap",
            width="100%",
        ),
        padding="16px 24px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
    )


def footer() -> rx.Component:
    return rx.el.footer(
        rx.text(
            "Need help? Contact ",
            rx.link(SUPPORT_EMAIL, href=f"mailto:{SUPPORT_EMAIL}"),
            size="1",
            color=rx.color("gray", 11),
        ),
        padding="16px 24px",
        text_align="center",
    )


def page(*children: rx.Component, step: int | None, width: str = "480px") -> rx.Component:
    """A screen: header (with the onboarding progress at `step`, if given), a centred column, footer."""
    return rx.box(
        header(step),
        rx.el.main(
            rx.box(*children, width="100%", max_width=width, margin_x="auto"),
            padding="32px 16px",
            flex="1",
        ),
        footer(),
        min_height="100vh",
        display="flex",
        flex_direction="column",
        background=rx.color("gray", 2),
    )
