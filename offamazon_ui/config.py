"""Settings read from environment variables, validated once at start.

Every name here is part of the product's interface (README has the table).
Sandbox mode differs from live mode only in the defaults of the URLs and
credentials: it points them at the built-in emulators, so business code never
asks which mode it runs in.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

MODES = ("sandbox", "live")
JOB_ENGINES = ("embedded", "procrastinate")
SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
DEFAULT_MARKETPLACE_ID = "ATVPDKIKX0DER"
SANDBOX_SHOPIFY_API_KEY = "offamazon-sandbox-app"
SANDBOX_LWA_CLIENT_ID = "amzn1.application-oa2-client.offamazonsandbox"
SECRET_KEY_FILE = "secret.key"  # noqa: S105  a file name
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # "none" | "starttls" | "tls"
    username: str | None
    password: str | None


@dataclass(frozen=True)
class Settings:
    mode: str
    data_dir: Path
    public_url: str
    backend_url: str
    secret_key: str
    database_url: str
    redis_url: str | None
    smtp: SmtpSettings | None
    mail_from: str
    shopify_api_key: str
    shopify_api_secret: str
    shopify_scopes: tuple[str, ...]
    shopify_api_version: str
    shopify_url_template: str
    lwa_client_id: str
    lwa_client_secret: str
    lwa_token_url: str
    spapi_url: str | None
    default_marketplace_id: str
    sandbox_url: str | None
    # Key rotation: keys that still decrypt tokens and match stored hashes, never used for new ones.
    previous_secret_keys: tuple[str, ...] = ()
    # "embedded": imports run inside the backend process; "procrastinate": on separate `make worker` processes.
    job_engine: str = "embedded"

    @property
    def is_sandbox(self) -> bool:
        """Only used to mount the emulators and to offer demo shortcuts in the UI."""
        return self.mode == "sandbox"

    @property
    def mounts_sandbox(self) -> bool:
        """Whether the backend serves the emulators itself; with several workers they run as one process apart,
        since they keep OAuth codes, tokens and bulk operations in memory."""
        return self.is_sandbox and self.sandbox_url is None

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def shop_base_url(self, shop_domain: str) -> str:
        """Base URL of a shop whose domain has already been validated."""
        return self.shopify_url_template.replace("{shop}", shop_domain).rstrip("/")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL such as https://example.com, got {value!r}")
    return value.rstrip("/")


def _parse_smtp(value: str) -> SmtpSettings:
    name = "OFFAMAZON_SMTP_URL"
    parts = urlsplit(value)
    if parts.scheme not in SMTP_SCHEMES:
        raise ConfigError(f"{name} must start with smtp://, smtp+starttls:// or smtps://, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise ConfigError(f"{name} must name a host, e.g. smtp+starttls://user:pass@mail.example.com:587")
    try:
        port = parts.port
    except ValueError as error:
        raise ConfigError(f"{name} has an invalid port: {error}") from None
    security = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}[parts.scheme]
    default_port = {"none": 25, "starttls": 587, "tls": 465}[security]
    return SmtpSettings(
        host=parts.hostname,
        port=port or default_port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _secret_key(env: Mapping[str, str], mode: str, data_dir: Path) -> str:
    value = env.get("OFFAMAZON_SECRET_KEY", "").strip()
    if value:
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"OFFAMAZON_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters; "
                'generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        return value
    if mode == "live":
        raise ConfigError("OFFAMAZON_SECRET_KEY is required in live mode")
    return _sandbox_secret_key(data_dir)


def _previous_secret_keys(env: Mapping[str, str], secret_key: str) -> tuple[str, ...]:
    name = "OFFAMAZON_PREVIOUS_SECRET_KEYS"
    keys = tuple(key.strip() for key in env.get(name, "").split(",") if key.strip())
    if any(len(key) < MIN_SECRET_KEY_LENGTH for key in keys):
        raise ConfigError(f"{name} must list keys of at least {MIN_SECRET_KEY_LENGTH} characters, separated by commas")
    if secret_key in keys:
        raise ConfigError(f"{name} must not contain OFFAMAZON_SECRET_KEY: set the new key there and list the old one")
    return tuple(dict.fromkeys(keys))


def _sandbox_secret_key(data_dir: Path) -> str:
    """Generated once per data dir and kept private (0600), so restarts keep sessions and tokens."""
    path = data_dir / SECRET_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        key = secrets.token_urlsafe(48)
        handle.write(key)
    return key


def _derived(secret_key: str, purpose: str) -> str:
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def _require(env: Mapping[str, str], name: str, mode: str, sandbox_default: str) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if mode == "live":
        raise ConfigError(f"{name} is required in live mode")
    return sandbox_default


_SCOPE = re.compile(r"^[a-z_]+$")
_API_VERSION = re.compile(r"^\d{4}-(01|04|07|10)$|^unstable$")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every variable; raise ConfigError naming the first bad one."""
    env = os.environ if env is None else env
    mode = env.get("OFFAMAZON_MODE", "sandbox").strip().lower() or "sandbox"
    if mode not in MODES:
        raise ConfigError(f"OFFAMAZON_MODE must be 'sandbox' or 'live', got {mode!r}")

    data_dir = Path(env.get("OFFAMAZON_DATA_DIR", "").strip() or ".data").resolve()
    public_url = _url(env, "OFFAMAZON_PUBLIC_URL", "http://localhost:3000")
    backend_url = _url(env, "REFLEX_API_URL", "http://localhost:8000")
    secret_key = _secret_key(env, mode, data_dir)

    database_url = env.get("REFLEX_DB_URL", "").strip() or f"sqlite:///{data_dir / 'offamazon.db'}"
    if "://" not in database_url:
        raise ConfigError(
            f"REFLEX_DB_URL must be a SQLAlchemy URL such as postgresql+psycopg://host/db, got {database_url!r}"
        )
    redis_url = env.get("REFLEX_REDIS_URL", "").strip() or None
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REFLEX_REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url!r}")

    job_engine = env.get("OFFAMAZON_JOB_ENGINE", "").strip().lower() or "embedded"
    if job_engine not in JOB_ENGINES:
        raise ConfigError(f"OFFAMAZON_JOB_ENGINE must be 'embedded' or 'procrastinate', got {job_engine!r}")
    if job_engine == "procrastinate" and not database_url.startswith("postgresql"):
        raise ConfigError("OFFAMAZON_JOB_ENGINE=procrastinate needs REFLEX_DB_URL to point at PostgreSQL")

    smtp_url = env.get("OFFAMAZON_SMTP_URL", "").strip()
    smtp = _parse_smtp(smtp_url) if smtp_url else None
    mail_from = env.get("OFFAMAZON_MAIL_FROM", "").strip() or "Off-Amazon Selection <no-reply@localhost>"
    if "@" not in mail_from:
        raise ConfigError(f"OFFAMAZON_MAIL_FROM must contain an email address, got {mail_from!r}")

    scopes = tuple(s.strip() for s in env.get("SHOPIFY_SCOPES", "read_products,read_inventory").split(",") if s.strip())
    if not scopes or not all(_SCOPE.match(s) for s in scopes):
        given = env.get("SHOPIFY_SCOPES")
        raise ConfigError(f"SHOPIFY_SCOPES must be a comma-separated list such as read_products, got {given!r}")
    api_version = env.get("SHOPIFY_API_VERSION", "").strip() or "2026-07"
    if not _API_VERSION.match(api_version):
        raise ConfigError(f"SHOPIFY_API_VERSION must look like 2026-07, got {api_version!r}")

    # The emulators as a process of their own (several backend workers); the browser opens its OAuth page.
    separate_sandbox = env.get("OFFAMAZON_SANDBOX_URL", "").strip()
    sandbox_url = _url(env, "OFFAMAZON_SANDBOX_URL", "") if separate_sandbox else None
    if sandbox_url and mode != "sandbox":
        raise ConfigError("OFFAMAZON_SANDBOX_URL only applies in sandbox mode; unset it in live mode")
    sandbox = f"{sandbox_url or backend_url}/sandbox"
    shopify_template = env.get("OFFAMAZON_SHOPIFY_URL", "").strip() or (
        f"{sandbox}/shopify/{{shop}}" if mode == "sandbox" else "https://{shop}"
    )
    if "{shop}" not in shopify_template:
        raise ConfigError(
            f"OFFAMAZON_SHOPIFY_URL must contain {{shop}}, e.g. https://{{shop}}, got {shopify_template!r}"
        )
    _url(
        {"OFFAMAZON_SHOPIFY_URL": shopify_template.replace("{shop}", "shop.myshopify.com")}, "OFFAMAZON_SHOPIFY_URL", ""
    )

    spapi_url = env.get("OFFAMAZON_SPAPI_URL", "").strip() or (f"{sandbox}/amazon/spapi" if mode == "sandbox" else "")
    marketplace = env.get("OFFAMAZON_MARKETPLACE_ID", "").strip().upper() or DEFAULT_MARKETPLACE_ID
    if not re.fullmatch(r"A[A-Z0-9]{8,15}", marketplace):
        raise ConfigError(
            f"OFFAMAZON_MARKETPLACE_ID must be an Amazon marketplace ID such as ATVPDKIKX0DER, got {marketplace!r}"
        )

    return Settings(
        mode=mode,
        data_dir=data_dir,
        public_url=public_url,
        backend_url=backend_url,
        secret_key=secret_key,
        database_url=database_url,
        redis_url=redis_url,
        smtp=smtp,
        mail_from=mail_from,
        shopify_api_key=_require(env, "SHOPIFY_API_KEY", mode, SANDBOX_SHOPIFY_API_KEY),
        shopify_api_secret=_require(env, "SHOPIFY_API_SECRET", mode, _derived(secret_key, "sandbox-shopify-secret")),
        shopify_scopes=scopes,
        shopify_api_version=api_version,
        shopify_url_template=shopify_template.rstrip("/"),
        lwa_client_id=_require(env, "AMAZON_LWA_CLIENT_ID", mode, SANDBOX_LWA_CLIENT_ID),
        lwa_client_secret=_require(env, "AMAZON_LWA_CLIENT_SECRET", mode, _derived(secret_key, "sandbox-lwa-secret")),
        lwa_token_url=_url(
            env,
            "OFFAMAZON_LWA_TOKEN_URL",
            f"{sandbox}/amazon/auth/o2/token" if mode == "sandbox" else "https://api.amazon.com/auth/o2/token",
        ),
        spapi_url=_url({"OFFAMAZON_SPAPI_URL": spapi_url}, "OFFAMAZON_SPAPI_URL", "") if spapi_url else None,
        default_marketplace_id=marketplace,
        sandbox_url=sandbox_url,
        previous_secret_keys=_previous_secret_keys(env, secret_key),
        job_engine=job_engine,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
