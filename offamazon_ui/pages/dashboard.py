import reflex as rx

from offamazon_ui.components import layout


class DashboardState(rx.State):
    def on_load(self):  # type: ignore[no-untyped-def]
        return None


def page() -> rx.Component:
    return layout.page(rx.heading("Dashboard", size="6"), step=4)
