"""Reading what a browser submitted: handlers are callable by any client with any arguments."""

from __future__ import annotations

UNEXPECTED_ERROR = "Something went wrong on our side. Please try again in a minute."


def submitted_text(form_data: object, name: str) -> str:
    """A form field as the browser sent it; anything that is not text counts as empty."""
    value = form_data.get(name, "") if isinstance(form_data, dict) else ""
    return value if isinstance(value, str) else ""
