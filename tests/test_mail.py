"""Account emails: their content, the outbox, and delivery through a real local SMTP server."""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from offamazon_ui.config import get_settings
from offamazon_ui.models import utcnow
from offamazon_ui.services import accounts, mail
from offamazon_ui.services.codes import RESET_PASSWORD, VERIFY_EMAIL
from tests.servers import free_port

PASSWORD = "Blue-Harbor-42"


class Recorder:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=default_policy).parsebytes(envelope.original_content or envelope.content)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture(autouse=True)
def data_dir(app_env: Path, fast_bcrypt: None) -> None:
    """A sandbox data dir and fast bcrypt for every test here."""


def use_smtp(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OFFAMAZON_SMTP_URL", url)
    get_settings.cache_clear()


@pytest.fixture
def smtp_server(app_env: Path) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_code_email_says_why_shows_the_code_grouped_and_has_no_link(app_env: Path) -> None:
    message = mail.code_email("ann@example.com", VERIFY_EMAIL, "123456")
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == "ann@example.com"
    assert message["From"] == get_settings().mail_from
    assert "verification code" in message["Subject"]
    assert "123456" not in message["Subject"]
    for body in parts(message):
        assert "123 456" in body
        assert "signing up" in body
        assert "expires in 10 minutes" in body
        assert "ignore this email" in body
        assert "http" not in body and "<a " not in body


def test_reset_email_is_worded_for_a_reset(app_env: Path) -> None:
    text, _html = parts(mail.code_email("ann@example.com", RESET_PASSWORD, "000042"))
    assert "000 042" in text
    assert "reset the password" in text and "your password stays the same" in text


def test_account_exists_email_points_to_sign_in_and_reset_without_a_code(app_env: Path) -> None:
    message = mail.account_exists_email("ann@example.com")
    text, html = parts(message)
    assert "already have" in message["Subject"]
    assert "/login" in text and "Forgot password" in text
    assert not re.search(r"\d{3} \d{3}", text)
    assert "&quot;Forgot password&quot;" in html  # everything in the HTML is escaped


async def test_without_smtp_mail_goes_to_the_outbox_newest_first(app_env: Path) -> None:
    assert mail.list_outbox() == []
    for number in range(3):
        await mail.send(mail.code_email(f"user{number}@example.com", VERIFY_EMAIL, f"00000{number}"))
    listed = mail.list_outbox()
    assert [message.to for message in listed] == ["user2@example.com", "user1@example.com", "user0@example.com"]
    assert "000 002" in listed[0].text and "verification code" in listed[0].subject
    assert abs(listed[0].sent_at - utcnow()) < timedelta(minutes=1)
    assert [message.to for message in mail.list_outbox(limit=1)] == ["user2@example.com"]
    files = list(get_settings().outbox_dir.glob("*.eml"))
    assert len(files) == 3 and all(path.stat().st_mode & 0o077 == 0 for path in files)


async def test_register_and_verify_through_a_real_smtp_server(
    db, smtp_server: tuple[Recorder, int], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    recorder, port = smtp_server
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{port}")
    result = await accounts.register("Ann", "Lee", " Ann@Example.com", PASSWORD, PASSWORD, "203.0.113.7")
    assert result.ok and result.mail_error is None
    assert recorder.recipients == [["ann@example.com"]]  # the stored address, not what was typed
    text, _html = parts(recorder.messages[0])
    found = re.search(r"\b(\d{3}) (\d{3})\b", text)
    assert found
    verified = await accounts.verify_email("ann@example.com", found.group(0), "203.0.113.7")
    assert verified.ok
    assert mail.list_outbox() == []


async def test_starttls_is_required_when_configured(
    smtp_server: tuple[Recorder, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder, port = smtp_server  # a server that does not offer STARTTLS
    use_smtp(monkeypatch, f"smtp+starttls://127.0.0.1:{port}")
    with pytest.raises(mail.MailNotSent):
        await mail.send(mail.code_email("ann@example.com", VERIFY_EMAIL, "123456"))
    assert recorder.messages == []


async def test_unreachable_server_raises_a_retryable_error(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{free_port()}")
    with pytest.raises(mail.MailNotSent) as failed:
        await mail.send(mail.code_email("ann@example.com", VERIFY_EMAIL, "123456"))
    assert failed.value.message == "We couldn't send the email. Try again in a minute."
    assert "123" not in str(failed.value)


async def test_registration_is_kept_when_the_email_fails(db, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    use_smtp(monkeypatch, f"smtp://127.0.0.1:{free_port()}")
    result = await accounts.register("Ann", "Lee", "ann@example.com", PASSWORD, PASSWORD, "203.0.113.7")
    assert result.ok and result.email == "ann@example.com"
    assert result.mail_error == mail.MAIL_NOT_SENT_MESSAGE
    assert result.code is not None and result.code.resend_available_at > utcnow()
    # The account exists: logging in answers "verify your email", not "wrong password".
    login = await accounts.login("ann@example.com", PASSWORD, "203.0.113.7")
    assert login.needs_verification


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
@pytest.mark.parametrize("trusted", [False, True])
async def test_tls_certificates_are_verified(
    app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str, trusted: bool
) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    recorder = Recorder()
    tls = {"ssl_context": server_context} if scheme == "smtps" else {"tls_context": server_context}
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **tls)
    controller.start()
    try:
        use_smtp(monkeypatch, f"{scheme}://127.0.0.1:{controller.port}")
        if trusted:
            # As if the certificate came from a public CA: then, and only then, mail goes through.
            create = ssl.create_default_context
            monkeypatch.setattr(mail.ssl, "create_default_context", lambda: create(cafile=str(cert_path)))
            await mail.send(mail.code_email("ann@example.com", VERIFY_EMAIL, "123456"))
            assert len(recorder.messages) == 1
        else:
            with pytest.raises(mail.MailNotSent):
                await mail.send(mail.code_email("ann@example.com", VERIFY_EMAIL, "123456"))
            assert recorder.messages == []
    finally:
        controller.stop()
