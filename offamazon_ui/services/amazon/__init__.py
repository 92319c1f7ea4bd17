"""Connect Amazon: marketplaces, form validation, LWA + SP-API verification and storage."""

from offamazon_ui.services.amazon.connection import (
    AmazonConnectionSummary,
    AmazonConnectResult,
    disconnect_amazon,
    get_amazon_connection,
    verify_and_connect,
)
from offamazon_ui.services.amazon.marketplaces import (
    MARKETPLACES,
    REGION_ENDPOINTS,
    Marketplace,
    find_marketplace,
    marketplace_options,
)
from offamazon_ui.services.amazon.problems import (
    MARKETPLACE_FIELD,
    REFRESH_TOKEN_FIELD,
    SELLER_FIELD,
    AmazonProblem,
    ProblemCode,
)
from offamazon_ui.services.amazon.retry import RetryPolicy
from offamazon_ui.services.amazon.validation import AmazonCredentials, validate_credentials

__all__ = [
    "MARKETPLACES",
    "MARKETPLACE_FIELD",
    "REFRESH_TOKEN_FIELD",
    "REGION_ENDPOINTS",
    "SELLER_FIELD",
    "AmazonConnectResult",
    "AmazonConnectionSummary",
    "AmazonCredentials",
    "AmazonProblem",
    "Marketplace",
    "ProblemCode",
    "RetryPolicy",
    "disconnect_amazon",
    "find_marketplace",
    "get_amazon_connection",
    "marketplace_options",
    "validate_credentials",
    "verify_and_connect",
]
