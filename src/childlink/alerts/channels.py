"""Channel senders: how one outbox message leaves the platform (webhook, e-mail, SMS).

A sender gets an :class:`OutgoingMessage` (the data of one claimed outbox row) and either
returns (the channel accepted it) or raises a :class:`DeliveryError` that says what to do next:

* :class:`TransientDeliveryError` - try again later with backoff (server down, timeout, 5xx,
  408/429);
* :class:`PermanentDeliveryError` - retrying cannot help (4xx, a refused address): dead-letter;
* :class:`ChannelNotConfiguredError` - the deployment has no SMTP server or SMS gateway yet:
  the message stays pending, with the reason in ``last_error``, and no attempt is counted.

Senders are called from worker threads and must be thread-safe. Receivers see the outbox row's
idempotency key with every send (``Idempotency-Key`` header, e-mail ``Message-ID``, SMS
``idempotency_key``): a send repeated after a crash carries the same key, so they can drop it.

Webhook bodies are signed like Stripe's and GitHub's: ``X-ChildLink-Signature:
sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with ``X-ChildLink-Timestamp`` the unix
time of the send; :func:`verify_signature` is the receiver's check (also used by the tests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import httpx

from childlink.alerts.choices import AlertSeverity, Channel
from childlink.config import Settings
from childlink.errors import ChildLinkError
from childlink.privacy.keys import CipherError, FieldCipher
from childlink.risk.choices import RiskType

SIGNATURE_HEADER = "X-ChildLink-Signature"
TIMESTAMP_HEADER = "X-ChildLink-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_TOLERANCE_S = 300
"""How old (or how far in the future) a signed timestamp a receiver accepts, against replays."""

RETRYABLE_HTTP_4XX = frozenset({408, 425, 429})
"""Client-error statuses that mean "later", not "never"."""

MAIL_POLICY = email_policy.SMTP.clone(max_line_length=998)
"""RFC 5322's hard line limit: long ASCII headers (the idempotency key) stay readable."""

NO_SMTP = "no SMTP server configured (set CHILDLINK_SMTP_HOST)"
NO_SMS_GATEWAY = "no SMS gateway configured (set CHILDLINK_SMS_GATEWAY_URL)"


class DeliveryError(ChildLinkError):
    """A send failed; subclasses say whether retrying may help."""

    permanent: bool = False


class TransientDeliveryError(DeliveryError):
    """The channel may accept the message later (down, slow, overloaded)."""


class PermanentDeliveryError(DeliveryError):
    """The channel refused the message for good (bad address, rejected request)."""

    permanent = True


class ChannelNotConfiguredError(DeliveryError):
    """The deployment has not configured this channel: keep the message pending."""


@dataclass(frozen=True)
class WebhookTarget:
    """The endpoint a webhook message goes to, as the worker loaded it with the message."""

    endpoint_id: uuid.UUID
    secret_token: str
    is_active: bool


@dataclass(frozen=True)
class OutgoingMessage:
    """One claimed outbox row: what a sender needs, nothing it could write back."""

    id: uuid.UUID
    channel: Channel
    address: str
    idempotency_key: str
    payload: Mapping[str, Any]
    attempts: int = 0
    webhook: WebhookTarget | None = field(default=None)


class Sender(Protocol):
    """Sends one message or raises :class:`DeliveryError`; must be thread-safe."""

    def send(self, message: OutgoingMessage) -> None: ...

    def close(self) -> None: ...


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    header: str | None,
    tolerance_s: int = SIGNATURE_TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """True if ``header`` signs ``body`` at ``timestamp`` with ``secret`` and is fresh.

    For receivers: pass the raw request body (before JSON parsing), the
    ``X-ChildLink-Timestamp`` and ``X-ChildLink-Signature`` headers. Timestamps further than
    ``tolerance_s`` from now are refused, so a captured request cannot be replayed later.
    """
    if not header or not header.startswith("sha256="):
        return False
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - moment) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, moment, body), header)


def payload_body(payload: Mapping[str, Any]) -> bytes:
    """The JSON body of a webhook: compact UTF-8, keys sorted (the bytes that are signed)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class WebhookSender:
    """Signed JSON POSTs over one keep-alive ``httpx.Client`` shared by the worker threads."""

    def __init__(
        self,
        cipher: FieldCipher,
        *,
        timeout_s: float = 5.0,
        max_connections: int = 16,
        client: httpx.Client | None = None,
    ) -> None:
        self.cipher = cipher
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"User-Agent": "ChildLink-Webhook/1"},
            follow_redirects=False,
        )
        self._secrets: dict[tuple[uuid.UUID, str], str] = {}
        self._lock = threading.Lock()

    def _secret(self, target: WebhookTarget) -> str:
        cache_key = (target.endpoint_id, target.secret_token)
        with self._lock:
            cached = self._secrets.get(cache_key)
        if cached is not None:
            return cached
        try:
            secret = self.cipher.decrypt(
                target.secret_token, context=endpoint_secret_context(target.endpoint_id)
            )
        except CipherError as error:
            raise PermanentDeliveryError(f"webhook secret unreadable: {error}") from error
        with self._lock:
            self._secrets[cache_key] = secret
        return secret

    def send(self, message: OutgoingMessage) -> None:
        target = message.webhook
        if target is None:
            raise PermanentDeliveryError("webhook message without an endpoint")
        if not target.is_active:
            raise PermanentDeliveryError("webhook endpoint disabled")
        body = payload_body(message.payload)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: message.idempotency_key,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret(target), timestamp, body),
        }
        try:
            response = self.client.post(message.address, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise TransientDeliveryError(f"timeout: {type(error).__name__}") from error
        except httpx.TransportError as error:
            raise TransientDeliveryError(f"connection: {_short(error)}") from error
        except httpx.InvalidURL as error:
            raise PermanentDeliveryError(f"invalid URL: {_short(error)}") from error
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"HTTP {status} {response.reason_phrase}".strip()
        if status >= 500 or status in RETRYABLE_HTTP_4XX:
            raise TransientDeliveryError(detail)
        raise PermanentDeliveryError(detail)

    def close(self) -> None:
        self.client.close()


def endpoint_secret_context(endpoint_id: uuid.UUID) -> str:
    """AES-GCM associated data of an endpoint's secret: a ciphertext moved to another row fails."""
    return f"webhook_endpoints:{endpoint_id}"


def _labels(payload: Mapping[str, Any]) -> tuple[str, str, str, str]:
    severity = str(payload.get("severity", ""))
    risk = str(payload.get("risk", ""))
    severity_zh, severity_en = severity, severity
    risk_zh, risk_en = risk, risk
    if severity in AlertSeverity._value2member_map_:
        member = AlertSeverity(severity)
        severity_zh, severity_en = member.label_zh, member.label_en
    if risk in RiskType._value2member_map_:
        risk_member = RiskType(risk)
        risk_zh, risk_en = risk_member.label_zh, risk_member.label_en
    return severity_zh, severity_en, risk_zh, risk_en


def alert_link(payload: Mapping[str, Any], base_url: str | None) -> str:
    """The alert's address in the web UI (absolute when ``public_base_url`` is set)."""
    path = str(payload.get("url") or f"/alerts/{payload.get('alert_id', '')}")
    return f"{base_url.rstrip('/')}{path}" if base_url else path


def email_body(payload: Mapping[str, Any], base_url: str | None = None) -> tuple[str, str]:
    """Subject and plain-text body (Chinese, then English) of an alert e-mail.

    Only the reference of the child (``child_ref``) appears, never a name or ID number: mail
    crosses systems ChildLink does not control.
    """
    severity_zh, severity_en, risk_zh, risk_en = _labels(payload)
    title_zh = str(payload.get("title_zh", ""))
    title_en = str(payload.get("title_en", ""))
    link = alert_link(payload, base_url)
    event = str(payload.get("event", "created"))
    level = payload.get("escalation_level", 0)
    subject = f"[ChildLink] {severity_zh}预警 / {severity_en} alert: {title_zh} / {title_en}"
    body = "\n".join(
        [
            f"【ChildLink 预警】{title_zh}",
            f"风险类型：{risk_zh}",
            f"紧急程度：{severity_zh}",
            f"儿童编号：{payload.get('child_ref', '')}",
            f"地区代码：{payload.get('region_code') or '-'}",
            f"事件：{event}；升级级别：{level}",
            f"请登录平台查看并确认：{link}",
            "",
            f"[ChildLink alert] {title_en}",
            f"Risk: {risk_en}",
            f"Severity: {severity_en}",
            f"Child reference: {payload.get('child_ref', '')}",
            f"Region code: {payload.get('region_code') or '-'}",
            f"Event: {event}; escalation level: {level}",
            f"Log in to review and acknowledge: {link}",
            "",
            "本邮件不含儿童姓名或身份证号。This e-mail carries no child name or ID number.",
        ]
    )
    return subject, body


def message_id(idempotency_key: str, domain: str = "childlink.invalid") -> str:
    """A Message-ID derived from the idempotency key: a repeated send has the same id."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


class EmailSender:
    """Plain-text alert e-mails over SMTP (one connection per message; optional STARTTLS)."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str = "childlink@localhost",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        base_url: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self.base_url = base_url

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The e-mail for ``message`` (also used by tests to check the content)."""
        subject, body = email_body(message.payload, self.base_url)
        mail = EmailMessage(policy=MAIL_POLICY)
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = message_id(message.idempotency_key)
        mail["X-ChildLink-Idempotency-Key"] = message.idempotency_key
        mail.set_content(body, charset="utf-8")
        return mail

    def send(self, message: OutgoingMessage) -> None:
        mail = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            text = f"recipient refused: {codes}"
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(text) from error
            raise TransientDeliveryError(text) from error
        except smtplib.SMTPResponseException as error:
            text = f"SMTP {error.smtp_code}: {_short(error.smtp_error)}"
            if error.smtp_code >= 500 and error.smtp_code not in (530, 535):
                raise PermanentDeliveryError(text) from error
            raise TransientDeliveryError(text) from error
        except (smtplib.SMTPException, OSError) as error:
            raise TransientDeliveryError(f"SMTP: {_short(error)}") from error

    def close(self) -> None:
        return None


class SmsSender(Protocol):
    """A gateway that sends one text to one mobile number (raises :class:`DeliveryError`)."""

    def send(self, message: OutgoingMessage) -> None: ...

    def close(self) -> None: ...


def sms_text(payload: Mapping[str, Any], base_url: str | None = None) -> str:
    """A short Chinese SMS: severity, title, and where to look (no child identity)."""
    severity_zh, _, _, _ = _labels(payload)
    return (
        f"【ChildLink】{severity_zh}预警：{payload.get('title_zh', '')}。"
        f"请登录平台查看并确认：{alert_link(payload, base_url)}"
    )


class HttpSmsGateway:
    """An SMS gateway behind an HTTP API: ``POST {to, text, idempotency_key}`` as JSON."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        base_url: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.base_url = base_url
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))

    def send(self, message: OutgoingMessage) -> None:
        document = {
            "to": message.address,
            "text": sms_text(message.payload, self.base_url),
            "idempotency_key": message.idempotency_key,
        }
        try:
            response = self.client.post(
                self.url,
                json=document,
                headers={IDEMPOTENCY_HEADER: message.idempotency_key},
            )
        except httpx.TimeoutException as error:
            raise TransientDeliveryError(f"SMS gateway timeout: {type(error).__name__}") from error
        except httpx.TransportError as error:
            raise TransientDeliveryError(f"SMS gateway: {_short(error)}") from error
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"SMS gateway HTTP {status}"
        if status >= 500 or status in RETRYABLE_HTTP_4XX:
            raise TransientDeliveryError(detail)
        raise PermanentDeliveryError(detail)

    def close(self) -> None:
        self.client.close()


class UnconfiguredSender:
    """Stands in for a channel the deployment has not set up: messages wait, with a reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(self, message: OutgoingMessage) -> None:
        raise ChannelNotConfiguredError(self.reason)

    def close(self) -> None:
        return None


def build_senders(settings: Settings, cipher: FieldCipher) -> dict[Channel, Sender]:
    """One sender per outbox channel, from the settings (unconfigured channels wait)."""
    base_url = settings.public_base_url
    senders: dict[Channel, Sender] = {
        Channel.WEBHOOK: WebhookSender(
            cipher,
            timeout_s=settings.webhook_timeout_s,
            max_connections=settings.delivery_concurrency,
        )
    }
    if settings.smtp_host:
        senders[Channel.EMAIL] = EmailSender(
            settings.smtp_host,
            settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=(
                settings.smtp_password.get_secret_value() if settings.smtp_password else None
            ),
            base_url=base_url,
        )
    else:
        senders[Channel.EMAIL] = UnconfiguredSender(NO_SMTP)
    if settings.sms_gateway_url:
        senders[Channel.SMS] = HttpSmsGateway(
            settings.sms_gateway_url, timeout_s=settings.webhook_timeout_s, base_url=base_url
        )
    else:
        senders[Channel.SMS] = UnconfiguredSender(NO_SMS_GATEWAY)
    return senders


def close_senders(senders: Mapping[Channel, Sender]) -> None:
    """Close every sender's connections (at worker shutdown)."""
    for sender in senders.values():
        sender.close()


def _short(error: object) -> str:
    text = " ".join(str(error).split())
    return (text or type(error).__name__)[:300]
