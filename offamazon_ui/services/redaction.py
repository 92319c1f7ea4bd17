"""Keep secrets out of log output: tokens, codes, credentials in URLs, headers, forms and JSON.

The code base never logs a secret on purpose; this is the net under mistakes and
under other people's code: access logs print the OAuth callback URL (code, state,
hmac) and the websocket URL (Reflex's client token), HTTP libraries print URLs,
and an exception text may quote a response.

`install_redaction()` hooks the log record factory rather than adding a filter
to the root logger: a logger's filters do not see records propagated from child
loggers, and uvicorn and granian log access lines on loggers that do not
propagate, through handlers they configure after the app is imported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "[redacted]"
_NOT_YET = r"(?!\[redacted\])"  # redacting twice changes nothing

# Names whose value is secret, as query or form keys, JSON keys, keyword arguments or cookie names.
_SENSITIVE_NAME = (
    r"(?:[\w.-]*?(?:token|secret|password|passwd|session|ticket|signature|credential|cookie)s?"
    r"|code|state|hmac|otp|sid|api[_-]?key|authorization|x-amz-access-token|x-shopify-access-token)"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Header lines: the whole value, whatever its scheme ("Authorization: Bearer …", "Cookie: a=b; c=d").
    (
        re.compile(
            r"(?im)\b((?:proxy-)?authorization|(?:set-)?cookie|x-amz-access-token|x-amz-security-token"
            rf"|x-shopify-access-token)(\s*:\s*){_NOT_YET}(?![\"'\s])[^\r\n]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # Header pairs as HTTP libraries log them: (b'set-cookie', b'…'), ('authorization', '…').
    (
        re.compile(
            r"(?i)(b?[\"'](?:(?:proxy-)?authorization|(?:set-)?cookie|x-amz-access-token|x-amz-security-token"
            r"|x-shopify-access-token)[\"'],\s*b?([\"']))(?:\\.|(?!\2).)*\2"
        ),
        rf"\1{REDACTED}\2",
    ),
    # JSON and Python reprs with a quoted value: "refresh_token": "…", 'password': '…'.
    (
        re.compile(rf"(?i)([\"']{_SENSITIVE_NAME}[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2"),
        rf"\1\2{REDACTED}\2",
    ),
    # Unquoted JSON values: "code": 123456.
    (re.compile(rf"(?i)([\"']{_SENSITIVE_NAME}[\"']\s*:\s*){_NOT_YET}(?![\"'\s])[^\s,}}\]]+"), rf"\1{REDACTED}"),
    # Keyword arguments and quoted assignments: password='…'.
    (re.compile(rf"(?i)((?<![\w-]){_SENSITIVE_NAME}=)([\"'])(?:\\.|(?!\2).)*\2"), rf"\1\2{REDACTED}\2"),
    # Query strings, form bodies and cookies: ?code=…&state=…, offamazon_session=….
    (re.compile(rf"(?i)((?<![\w-]){_SENSITIVE_NAME}=){_NOT_YET}(?![\"'])[^&\s\"'<>;,)\]}}]+"), rf"\1{REDACTED}"),
    # Credentials in URLs: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # Schemes in free text: "Bearer …", "Basic …".
    (re.compile(r"\b(Bearer|Basic)(\s+)[\w.~+/=|%-]{8,}"), rf"\1\2{REDACTED}"),
    # Shopify tokens (shpat_ access, shprt_ refresh, shpua_ user, shpca_ custom app, shpss_ shared secret).
    (re.compile(r"\b(shp(?:at|rt|ua|ca|pa|ss)_)[A-Za-z0-9]+"), rf"\1{REDACTED}"),
    # Login with Amazon tokens: Atza| access, Atzr| refresh.
    (re.compile(r"\b(Atz[ar]\|)[\w.~+/=%-]+"), rf"\1{REDACTED}"),
    # Six-digit one-time codes where a message names them: "code 123 456", "OTP: 123456", "code is:\n  123 456".
    (
        re.compile(r"(?i)\b(code|otp|passcode)\b([^\d\r\n]{0,24}(?:\r?\n\s*){0,3})\d{3}[ \u00a0-]?\d{3}(?!\d)"),
        rf"\1\2{REDACTED}",
    ),
)


def redact(text: str) -> str:
    """The text with every recognised secret replaced by [redacted]."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_arg(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redact_arg(item) for key, item in value.items()}
    try:
        text = str(value)
    except Exception:
        return value
    redacted = redact(text)
    # Objects (URLs, exceptions, requests) keep their type unless their text held a secret.
    return value if redacted == text else redacted


class RedactingFilter(logging.Filter):
    """Rewrites a record in place so that no formatter can print a secret from it; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = _redact_arg(record.args)
        elif isinstance(record.args, tuple):
            # Kept as a tuple: uvicorn's access formatter unpacks it.
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        self._redact_message(record)
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set, so the traceback is rendered (and redacted) once, here.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True

    @staticmethod
    def _redact_message(record: logging.LogRecord) -> None:
        """Checked once formatted: a secret may be split between the format and an argument ("Bearer %s")."""
        try:
            message = record.getMessage()
        except Exception:
            return  # logging reports the broken format string itself
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None


_FILTER = RedactingFilter()


def _redacting_factory(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _FILTER.filter(record)
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    return factory


def install_redaction() -> None:
    """Redact every log record created in this process from now on, whichever logger and handler it goes to."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacting", False):
        logging.setLogRecordFactory(_redacting_factory(current))
