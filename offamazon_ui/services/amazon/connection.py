"""Connect a user's Amazon seller account: validate, verify with Amazon, then store.

Nothing is written until LWA and both SP-API checks have passed; the row is
then inserted or replaced in one transaction, with the refresh token
encrypted. The Reflex handler awaits verify_and_connect(); the database work
inside runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import select

from offamazon_ui.config import Settings, get_settings
from offamazon_ui.models import AmazonConnection, utcnow
from offamazon_ui.services.amazon import lwa, spapi
from offamazon_ui.services.amazon.marketplaces import Marketplace, find_marketplace, spapi_base_url
from offamazon_ui.services.amazon.problems import (
    AmazonCheckFailed,
    AmazonProblem,
    marketplace_not_in_account,
    marketplace_not_participating,
    storage_failed,
    unavailable,
)
from offamazon_ui.services.amazon.retry import RetryPolicy
from offamazon_ui.services.amazon.validation import AmazonCredentials, validate_credentials
from offamazon_ui.services.crypto import encrypt
from offamazon_ui.services.db import session_scope

log = logging.getLogger(__name__)

MAX_STORE_NAME_LENGTH = 255


@dataclass(frozen=True)
class AmazonConnectionSummary:
    """What the UI may show about a stored connection (never the token)."""

    user_id: int
    marketplace_id: str
    region: str
    country: str
    domain: str
    seller_id: str
    store_name: str
    connected_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VerifiedAmazonAccount:
    marketplace: Marketplace
    seller_id: str
    store_name: str
    refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class AmazonConnectResult:
    connection: AmazonConnectionSummary | None = None
    problems: tuple[AmazonProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return self.connection is not None

    @property
    def retryable(self) -> bool:
        return any(problem.retryable for problem in self.problems)

    def message_for(self, field_name: str | None) -> str:
        """The message to show next to a form field (None: above the form); empty when there is none."""
        return " ".join(problem.message for problem in self.problems if problem.field == field_name)


async def verify_and_connect(
    user_id: int,
    marketplace_id: str,
    seller_id: str,
    refresh_token: str,
    *,
    settings: Settings | None = None,
    policy: RetryPolicy | None = None,
) -> AmazonConnectResult:
    """Validate the form, verify it with Amazon, and store the connection only if every check passed."""
    checked = validate_credentials(marketplace_id, seller_id, refresh_token)
    if isinstance(checked, list):
        return AmazonConnectResult(problems=tuple(checked))
    settings = settings or get_settings()
    policy = policy or RetryPolicy()
    try:
        account = await verify_credentials(checked, settings=settings, policy=policy)
    except AmazonCheckFailed as failure:
        log.info("Amazon connect for user %d failed: %s", user_id, failure.problem.code.value)
        return AmazonConnectResult(problems=(failure.problem,))
    except httpx.HTTPError as error:
        log.warning("Amazon connect for user %d failed: %s", user_id, type(error).__name__)
        return AmazonConnectResult(problems=(unavailable(),))

    try:
        summary = await asyncio.to_thread(save_amazon_connection, user_id, account)
    except SQLAlchemyError as error:
        # The exception text can hold statement parameters, so only its type is logged.
        log.error("Could not store the Amazon connection of user %d: %s", user_id, type(error).__name__)
        return AmazonConnectResult(problems=(storage_failed(),))
    log.info("Amazon connected for user %d: seller %s on %s", user_id, summary.seller_id, summary.marketplace_id)
    return AmazonConnectResult(connection=summary)


async def verify_credentials(
    credentials: AmazonCredentials, *, settings: Settings, policy: RetryPolicy
) -> VerifiedAmazonAccount:
    """Raises AmazonCheckFailed with the first problem found."""
    marketplace = credentials.marketplace
    base_url = spapi_base_url(marketplace.region, settings)
    async with httpx.AsyncClient(follow_redirects=False) as client:
        # A fresh exchange, not a cached token: it proves the refresh token has not been revoked since.
        token = await lwa.get_access_token(client, settings, credentials.refresh_token, policy=policy, fresh=True)
        participations = await spapi.get_marketplace_participations(
            client, base_url, token.value, marketplace, policy=policy
        )
        entry = next((p for p in participations if p.marketplace_id == marketplace.id), None)
        if entry is None:
            sells_on = [m for p in participations if p.is_participating and (m := find_marketplace(p.marketplace_id))]
            raise AmazonCheckFailed(marketplace_not_in_account(marketplace, sells_on))
        if not entry.is_participating:
            raise AmazonCheckFailed(marketplace_not_participating(marketplace))
        await spapi.check_seller(client, base_url, token.value, credentials.seller_id, marketplace.id, policy=policy)
    return VerifiedAmazonAccount(
        marketplace=marketplace,
        seller_id=credentials.seller_id,
        store_name=(entry.store_name.strip() or marketplace.domain)[:MAX_STORE_NAME_LENGTH],
        refresh_token=credentials.refresh_token,
    )


def save_amazon_connection(user_id: int, account: VerifiedAmazonAccount) -> AmazonConnectionSummary:
    """Insert or replace the user's connection in one transaction."""
    encrypted = encrypt(account.refresh_token)
    try:
        return _upsert(user_id, account, encrypted)
    except IntegrityError:
        # A concurrent request inserted this user's row first; replace it instead.
        return _upsert(user_id, account, encrypted)


def _upsert(user_id: int, account: VerifiedAmazonAccount, encrypted_token: str) -> AmazonConnectionSummary:
    now = utcnow()
    with session_scope() as db:
        row = db.exec(select(AmazonConnection).where(AmazonConnection.user_id == user_id)).first()
        if row is None:
            row = AmazonConnection(
                user_id=user_id,
                marketplace_id=account.marketplace.id,
                region=account.marketplace.region,
                seller_id=account.seller_id,
                store_name=account.store_name,
                refresh_token_enc=encrypted_token,
                connected_at=now,
                updated_at=now,
            )
        else:
            row.marketplace_id = account.marketplace.id
            row.region = account.marketplace.region
            row.seller_id = account.seller_id
            row.store_name = account.store_name
            row.refresh_token_enc = encrypted_token
            row.updated_at = now
        db.add(row)
        db.flush()
        return _summary(row)


def get_amazon_connection(user_id: int) -> AmazonConnectionSummary | None:
    with session_scope() as db:
        row = db.exec(select(AmazonConnection).where(AmazonConnection.user_id == user_id)).first()
        return _summary(row) if row else None


def disconnect_amazon(user_id: int) -> bool:
    """Delete the connection and its token; False when there was none."""
    with session_scope() as db:
        row = db.exec(select(AmazonConnection).where(AmazonConnection.user_id == user_id)).first()
        if row is None:
            return False
        db.delete(row)
        return True


def _summary(row: AmazonConnection) -> AmazonConnectionSummary:
    marketplace = find_marketplace(row.marketplace_id)
    return AmazonConnectionSummary(
        user_id=row.user_id,
        marketplace_id=row.marketplace_id,
        region=row.region,
        country=marketplace.country if marketplace else row.marketplace_id,
        domain=marketplace.domain if marketplace else "",
        seller_id=row.seller_id,
        store_name=row.store_name,
        connected_at=row.connected_at,
        updated_at=row.updated_at,
    )
