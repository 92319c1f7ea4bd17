"""Amazon marketplaces and the SP-API regional endpoints that serve them.

Source: SP-API docs "Marketplace IDs" and "SP-API Endpoints"; currencies and
domains from bizon/amazon-ids (the Ireland and South Africa values are not
confirmed by Amazon). India, the Middle East, Turkey and South Africa are
served from the EU endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from offamazon_ui.config import Settings

REGIONS = ("NA", "EU", "FE")
REGION_NAMES = {"NA": "North America", "EU": "Europe", "FE": "Far East"}
REGION_ENDPOINTS = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}


@dataclass(frozen=True)
class Marketplace:
    region: str
    country: str
    id: str
    code: str
    currency: str
    domain: str

    @property
    def label(self) -> str:
        """What the marketplace picker shows, e.g. 'United States (amazon.com) · North America'."""
        return f"{self.country} ({self.domain}) · {REGION_NAMES[self.region]}"


MARKETPLACES: tuple[Marketplace, ...] = (
    Marketplace("NA", "Canada", "A2EUQ1WTGCTBG2", "CA", "CAD", "amazon.ca"),
    Marketplace("NA", "United States", "ATVPDKIKX0DER", "US", "USD", "amazon.com"),
    Marketplace("NA", "Mexico", "A1AM78C64UM0Y8", "MX", "MXN", "amazon.com.mx"),
    Marketplace("NA", "Brazil", "A2Q3Y263D00KWC", "BR", "BRL", "amazon.com.br"),
    Marketplace("EU", "Ireland", "A28R8C7NBKEWEA", "IE", "EUR", "amazon.ie"),
    Marketplace("EU", "Spain", "A1RKKUPIHCS9HS", "ES", "EUR", "amazon.es"),
    Marketplace("EU", "United Kingdom", "A1F83G8C2ARO7P", "UK", "GBP", "amazon.co.uk"),
    Marketplace("EU", "France", "A13V1IB3VIYZZH", "FR", "EUR", "amazon.fr"),
    Marketplace("EU", "Belgium", "AMEN7PMS3EDWL", "BE", "EUR", "amazon.com.be"),
    Marketplace("EU", "Netherlands", "A1805IZSGTT6HS", "NL", "EUR", "amazon.nl"),
    Marketplace("EU", "Germany", "A1PA6795UKMFR9", "DE", "EUR", "amazon.de"),
    Marketplace("EU", "Italy", "APJ6JRA9NG5V4", "IT", "EUR", "amazon.it"),
    Marketplace("EU", "Sweden", "A2NODRKZP88ZB9", "SE", "SEK", "amazon.se"),
    Marketplace("EU", "South Africa", "AE08WJ6YKNBMC", "ZA", "ZAR", "amazon.co.za"),
    Marketplace("EU", "Poland", "A1C3SOZRARQ6R3", "PL", "PLN", "amazon.pl"),
    Marketplace("EU", "Egypt", "ARBP9OOSHTCHU", "EG", "EGP", "amazon.eg"),
    Marketplace("EU", "Turkey", "A33AVAJ2PDY3EV", "TR", "TRY", "amazon.com.tr"),
    Marketplace("EU", "Saudi Arabia", "A17E79C6D8DWNP", "SA", "SAR", "amazon.sa"),
    Marketplace("EU", "United Arab Emirates", "A2VIGQ35RCS4UG", "AE", "AED", "amazon.ae"),
    Marketplace("EU", "India", "A21TJRUUN4KGV", "IN", "INR", "amazon.in"),
    Marketplace("FE", "Singapore", "A19VAU5U5O7RUS", "SG", "SGD", "amazon.sg"),
    Marketplace("FE", "Australia", "A39IBJ37TRP1C6", "AU", "AUD", "amazon.com.au"),
    Marketplace("FE", "Japan", "A1VC38T7YXB528", "JP", "JPY", "amazon.co.jp"),
)

_BY_ID = {marketplace.id: marketplace for marketplace in MARKETPLACES}


def find_marketplace(marketplace_id: str) -> Marketplace | None:
    """Look up a marketplace by ID, ignoring surrounding spaces and letter case."""
    return _BY_ID.get(marketplace_id.strip().upper())


def marketplace_options() -> list[dict[str, str]]:
    """Picker entries in table order (grouped by region): value, label, country, region."""
    return [
        {"value": m.id, "label": m.label, "country": m.country, "region": REGION_NAMES[m.region]} for m in MARKETPLACES
    ]


def spapi_base_url(region: str, settings: Settings) -> str:
    """OFFAMAZON_SPAPI_URL, when set, replaces every regional endpoint (sandbox and tests)."""
    return (settings.spapi_url or REGION_ENDPOINTS[region]).rstrip("/")
