"""Department webhooks: register an endpoint, show its signing secret once, list, disable.

The secret signs every POST (see :mod:`childlink.alerts.channels`). It is random, shown to the
operator once at registration, and stored only encrypted with the platform's field keys (the
key store lives outside the database), bound to the endpoint's row: a copied database alone
cannot forge signatures, and a ciphertext moved to another endpoint does not decrypt.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from childlink.access.models import Agency
from childlink.alerts.channels import (
    DeliveryError,
    OutgoingMessage,
    WebhookSender,
    WebhookTarget,
    endpoint_secret_context,
)
from childlink.alerts.choices import Channel
from childlink.alerts.models import WebhookEndpoint
from childlink.errors import ChildLinkError, NotFoundError
from childlink.privacy.keys import FieldCipher, KeyStore

SECRET_PREFIX = "whsec_"


class WebhookError(ChildLinkError):
    """A webhook endpoint cannot be registered as asked (bad URL, empty name)."""


@dataclass(frozen=True)
class EndpointRead:
    """An endpoint as shown to operators (never with its secret)."""

    id: uuid.UUID
    agency_code: str
    name: str
    url: str
    is_active: bool
    created_at: datetime


def _cipher(cipher: FieldCipher | None) -> FieldCipher:
    return cipher if cipher is not None else FieldCipher(KeyStore.from_settings())


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host, or :class:`WebhookError`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"webhook URL must be absolute http(s), not {url!r}")
    return url.strip()


def register_endpoint(
    session: Session,
    agency_code: str,
    name: str,
    url: str,
    *,
    cipher: FieldCipher | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint for the agency; returns it and its signing secret (show it once).

    Flushes, does not commit.

    Raises:
        NotFoundError: no agency has that code.
        WebhookError: the URL is not absolute http(s) or the name is empty.
    """
    agency_id = session.scalar(sa.select(Agency.id).where(Agency.code == agency_code))
    if agency_id is None:
        raise NotFoundError(f"no agency with code {agency_code!r}")
    if not name.strip():
        raise WebhookError("a webhook endpoint needs a name")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint_id = uuid.uuid4()
    token = _cipher(cipher).encrypt(secret, context=endpoint_secret_context(endpoint_id))
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        agency_id=agency_id,
        name=name.strip(),
        url=validate_url(url),
        secret_encrypted=token.encode("ascii"),
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def endpoint_secret(endpoint: WebhookEndpoint, cipher: FieldCipher | None = None) -> str:
    """The clear signing secret of an endpoint (for operators re-configuring a receiver)."""
    return _cipher(cipher).decrypt(
        endpoint.secret_encrypted.decode("ascii"), context=endpoint_secret_context(endpoint.id)
    )


def list_endpoints(session: Session, *, agency_code: str | None = None) -> list[EndpointRead]:
    """Every endpoint (of one agency if given), oldest first."""
    query = (
        sa.select(WebhookEndpoint, Agency.code)
        .join(Agency, Agency.id == WebhookEndpoint.agency_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.name)
    )
    if agency_code is not None:
        query = query.where(Agency.code == agency_code)
    return [
        EndpointRead(e.id, code, e.name, e.url, e.is_active, e.created_at)
        for e, code in session.execute(query)
    ]


def disable_endpoint(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """Stop routing to an endpoint; messages already queued for it are dead-lettered.

    Flushes, does not commit.

    Raises:
        NotFoundError: no endpoint has that id.
    """
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFoundError(f"no webhook endpoint {endpoint_id}")
    endpoint.is_active = False
    session.flush()
    return endpoint


@dataclass(frozen=True)
class PingResult:
    """What a test delivery to an endpoint got back."""

    endpoint_id: uuid.UUID
    url: str
    ok: bool
    detail: str
    milliseconds: float


def ping_endpoint(
    session: Session,
    endpoint_id: uuid.UUID,
    *,
    cipher: FieldCipher | None = None,
    timeout_s: float = 5.0,
) -> PingResult:
    """Send one signed test event (``"event": "ping"``, no child data) straight to an endpoint.

    For a department setting up its receiver: the request carries the same headers and
    signature as a real alert, with a fresh idempotency key; it does not go through the outbox
    and is not retried. Works for disabled endpoints too (to test before enabling).

    Raises:
        NotFoundError: no endpoint has that id.
    """
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFoundError(f"no webhook endpoint {endpoint_id}")
    sender = WebhookSender(_cipher(cipher), timeout_s=timeout_s, max_connections=1)
    key = f"ping:{endpoint.id}:{uuid.uuid4()}"
    message = OutgoingMessage(
        id=uuid.uuid4(),
        channel=Channel.WEBHOOK,
        address=endpoint.url,
        idempotency_key=key,
        payload={"event": "ping", "endpoint_id": str(endpoint.id), "idempotency_key": key},
        webhook=WebhookTarget(endpoint.id, endpoint.secret_encrypted.decode("ascii"), True),
    )
    started = time.perf_counter()
    try:
        sender.send(message)
        ok, detail = True, "2xx"
    except DeliveryError as error:
        ok, detail = False, str(error)
    finally:
        sender.close()
    return PingResult(
        endpoint.id, endpoint.url, ok, detail, round(1000 * (time.perf_counter() - started), 1)
    )
