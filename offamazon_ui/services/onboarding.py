"""Where a signed-in user stands in the onboarding, from one look at the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from offamazon_ui.models import AmazonConnection, ShopConnection, User
from offamazon_ui.services import sessions
from offamazon_ui.services.db import session_scope


@dataclass(frozen=True)
class Identity:
    user_id: int
    display_name: str
    email_verified: bool
    shop_connected: bool
    amazon_connected: bool


def progress_of(user_id: int) -> Identity | None:
    with session_scope() as db:
        user = db.exec(select(User).where(User.id == user_id)).first()
        if user is None:
            return None
        return Identity(
            user_id=user_id,
            display_name=f"{user.first_name} {user.last_name}",
            email_verified=user.email_verified_at is not None,
            # A disconnected store keeps its row (and kept products) but not its token.
            shop_connected=db.exec(
                select(ShopConnection.id).where(
                    ShopConnection.user_id == user_id, ShopConnection.access_token_enc != ""
                )
            ).first()
            is not None,
            amazon_connected=db.exec(select(AmazonConnection.id).where(AmazonConnection.user_id == user_id)).first()
            is not None,
        )


def identify(session_token: str) -> Identity | None:
    """The user behind a session cookie, or None if the session is unknown, expired or revoked."""
    user_id = sessions.resolve_session(session_token)
    return progress_of(user_id) if user_id is not None else None
