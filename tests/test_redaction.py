"""The log redaction: which shapes of secrets it recognises, and that every logger's records pass through it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from offamazon_ui.services.redaction import REDACTED, RedactingFilter, install_redaction, redact

SHOPIFY_ACCESS = "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"
SHOPIFY_REFRESH = "shprt_5a69788796a5b4c3d2e1f00f1e2d3c4b5a697887"
AMAZON_ACCESS = "Atza|IwEBIK-Nz_t8yQ+Zp/Tr0wX9=="
AMAZON_REFRESH = "Atzr|IwEBIabcdef0123456789"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /auth/shopify/callback?code=4f2a9c&hmac=77ab&shop=a.myshopify.com&state=Zq-9_x HTTP/1.1", "4f2a9c"),
        ("GET /auth/shopify/callback?code=4f2a9c&hmac=77ab&shop=a.myshopify.com&state=Zq-9_x HTTP/1.1", "Zq-9_x"),
        ("GET /auth/shopify/callback?code=4f2a9c&hmac=77ab12&shop=a.myshopify.com HTTP/1.1", "77ab12"),
        ("/_event/?EIO=4&transport=websocket&token=0c6b3f5e-1d2a-4e8b", "0c6b3f5e-1d2a-4e8b"),
        (f"Authorization: Bearer {AMAZON_ACCESS}", AMAZON_ACCESS),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        (f"{{'x-amz-access-token': '{AMAZON_ACCESS}', 'accept': 'application/json'}}", AMAZON_ACCESS),
        ("X-Shopify-Access-Token: opaque-value-without-prefix", "opaque-value-without-prefix"),
        ("[(b'set-cookie', b'offamazon_session=Tq9Xw1; HttpOnly; Path=/')]", "Tq9Xw1"),
        ("Cookie: __Host-offamazon_session=Tq9Xw1; theme=dark", "Tq9Xw1"),
        (f"token exchange answered {SHOPIFY_ACCESS} and {SHOPIFY_REFRESH}", SHOPIFY_ACCESS[6:]),
        (f"token exchange answered {SHOPIFY_ACCESS} and {SHOPIFY_REFRESH}", SHOPIFY_REFRESH[6:]),
        (f"LWA said {AMAZON_REFRESH}.", AMAZON_REFRESH[5:]),
        ('{"access_token": "opaque1", "token_type": "bearer", "expires_in": 3600}', "opaque1"),
        ('{"refresh_token": "with \\"quote\\" inside", "scope": "x"}', 'with \\"quote\\" inside'),
        ("grant_type=refresh_token&refresh_token=r3fr3sh&client_id=app&client_secret=s3cr3t", "r3fr3sh"),
        ("grant_type=refresh_token&refresh_token=r3fr3sh&client_id=app&client_secret=s3cr3t", "s3cr3t"),
        ("submit(form_data={'email': 'a@b.c', 'password': 'Vivid Lantern#83'})", "Vivid Lantern#83"),
        ("ticket=Jc8_x2 next=/connect/shopify", "Jc8_x2"),
        ("smtp+starttls://mailer:p%40ssw0rd@mail.example.com:587", "p%40ssw0rd"),
        ("Your verification code is:\n\n    482 913\n\nEnter it", "482 913"),
        ("OTP: 482913", "482913"),
        ('{"code": 482913}', "482913"),
    ],
)
def test_secrets_are_redacted_in_every_shape_they_take(text: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted
    assert redact(redacted) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "import job 42 completed: 123456 variants in 12.5s",
        "HTTP Request: POST http://127.0.0.1:8000/admin/api/2026-07/graphql.json status_code=200",
        "Shopify install refused: state_unknown",
        "Amazon connect for user 7 failed: REFRESH_TOKEN_REJECTED",
        "health check: database unreachable (OperationalError)",
    ],
)
def test_ordinary_messages_are_left_alone(text: str) -> None:
    assert redact(text) == text


def record(message: str, args: object = (), exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.INFO, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def test_filter_redacts_arguments_and_keeps_their_shape_for_access_formatters() -> None:
    access = record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", "/cb?code=4f2a9c&shop=a", "1.1", 303))
    RedactingFilter().filter(access)
    assert isinstance(access.args, tuple) and len(access.args) == 5
    assert "4f2a9c" not in AccessFormatter("%(message)s", use_colors=False).format(access)


def test_filter_redacts_mapping_arguments_as_granian_logs_them() -> None:
    line = record("%(method)s %(path)s?%(query_string)s %(status)d", ())
    line.args = {"method": "GET", "path": "/cb", "query_string": "code=4f2a9c&state=Zq", "status": 303}
    RedactingFilter().filter(line)
    assert line.getMessage() == f"GET /cb?code={REDACTED}&state={REDACTED} 303"


def test_a_secret_split_between_format_and_argument_is_redacted() -> None:
    split = record("sending header Authorization: Bearer %s", (AMAZON_ACCESS[5:],))
    RedactingFilter().filter(split)
    assert AMAZON_ACCESS[5:] not in split.getMessage()


def test_tracebacks_are_redacted() -> None:
    try:
        raise ValueError(f"unexpected answer {{'refresh_token': '{AMAZON_REFRESH}'}}")
    except ValueError as error:
        failed = record("token exchange failed", exc_info=(type(error), error, error.__traceback__))
    RedactingFilter().filter(failed)
    formatted = logging.Formatter().format(failed)
    assert "ValueError" in formatted and AMAZON_REFRESH not in formatted


def test_unformattable_records_are_kept() -> None:
    broken = record("%d things", ("not a number",))
    assert RedactingFilter().filter(broken)


@pytest.fixture
def redaction_installed() -> Iterator[None]:
    previous = logging.getLogRecordFactory()
    install_redaction()
    yield
    logging.setLogRecordFactory(previous)


def test_installed_redaction_covers_loggers_that_do_not_propagate(
    redaction_installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    access_logger = logging.getLogger("tests.redaction.access")
    access_logger.propagate = False
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    access_logger.addHandler(Keep())
    access_logger.setLevel(logging.INFO)
    access_logger.info('"GET %s HTTP/1.1" 303', "/auth/shopify/callback?code=4f2a9c&hmac=77ab&state=Zq-9_x")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("tests.redaction.child").debug("Bearer %s", AMAZON_ACCESS)
    assert seen == [f'"GET /auth/shopify/callback?code={REDACTED}&hmac={REDACTED}&state={REDACTED} HTTP/1.1" 303']
    assert AMAZON_ACCESS not in caplog.text and "Bearer" in caplog.text


def test_installing_twice_wraps_the_record_factory_once(redaction_installed: None) -> None:
    installed = logging.getLogRecordFactory()
    install_redaction()
    assert logging.getLogRecordFactory() is installed
