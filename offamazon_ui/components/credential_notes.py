"""The product's standing advice about credentials, shown wherever they are entered."""

import reflex as rx

from offamazon_ui.components.layout import SUPPORT_EMAIL


def credential_notes() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("shield-alert")),
        rx.vstack(
            rx.text("Important", weight="bold", size="2"),
            rx.el.ul(
                rx.el.li("Ensure the credentials entered are accurate to avoid connection errors."),
                rx.el.li(
                    "If you do not have these credentials, contact us at ",
                    rx.link(SUPPORT_EMAIL, href=f"mailto:{SUPPORT_EMAIL}"),
                    ".",
                ),
                rx.el.li("Do not share your credentials publicly or with unauthorized users."),
                style={"margin": 0, "paddingLeft": "1.1em", "fontSize": "13px", "listStyle": "disc"},
            ),
            spacing="1",
        ),
        color_scheme="amber",
        variant="surface",
        data_testid="credential-notes",
    )
