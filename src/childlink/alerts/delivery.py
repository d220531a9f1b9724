"""Deliver the outbox: claim due messages, send them outside any transaction, record results.

One round of :func:`deliver_due`:

1. **Claim** up to ``batch`` due rows (pending, ``next_attempt_at`` passed, no live lease) in a
   short transaction by setting ``claimed_until`` to ``now + lease``. One ``UPDATE ... WHERE id
   IN (SELECT ... LIMIT n) RETURNING id``: on PostgreSQL the sub-select takes ``FOR UPDATE SKIP
   LOCKED`` so concurrent workers split the queue; on SQLite the single statement runs under
   the database's write lock and re-checks the lease, so two workers never hold the same row.
2. **Send** every claimed message through its channel's sender, in a thread pool sharing one
   keep-alive HTTP client, with no transaction open (a slow receiver holds no locks).
3. **Record** the results in bulk, guarded by the lease value this round wrote: sent rows
   become ``sent``; transient failures wait ``5 s * 2^(attempts-1)`` (capped at an hour, with
   jitter) and try again; permanent failures, and transient ones after ``max_attempts``, are
   dead-lettered with their last error; unconfigured channels stay pending without using up
   attempts.

If the process dies between claim and record, the rows stay pending with a lease; once it has
run out another round takes them again. So delivery is at least once, and a receiver that
drops repeated ``Idempotency-Key`` values processes each notification exactly once. A round
whose lease ran out while it was still sending writes nothing (the guard no longer matches),
leaving the row to whoever re-claimed it.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from childlink.alerts.channels import (
    ChannelNotConfiguredError,
    DeliveryError,
    OutgoingMessage,
    Sender,
    WebhookTarget,
)
from childlink.alerts.choices import Channel, DeliveryStatus
from childlink.alerts.models import AlertRecipient, OutboxMessage, WebhookEndpoint
from childlink.store.base import utc_now
from childlink.store.engine import unit_of_work

logger = logging.getLogger("childlink.alerts.delivery")

BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 3600.0
UNCONFIGURED_RECHECK = timedelta(seconds=60)
"""How soon a message for an unconfigured channel is looked at again (no attempt counted)."""
IN_CHUNK = 900
"""Ids per ``IN (...)`` list (well under SQLite's bound-parameter limit)."""
ERROR_CHARS = 500


def _outbox() -> sa.Table:
    return cast(sa.Table, OutboxMessage.__table__)


@dataclass
class DeliveryReport:
    """What one or more delivery rounds did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    released: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def claimed(self) -> int:
        """Messages this round took off the queue (whatever became of them)."""
        return self.sent + self.retried + self.dead + self.skipped + self.released

    def add(self, other: DeliveryReport) -> None:
        """Fold another round's counts into this report."""
        self.sent += other.sent
        self.retried += other.retried
        self.dead += other.dead
        self.skipped += other.skipped
        self.released += other.released
        self.seconds += other.seconds
        for error, count in other.errors.items():
            self.errors[error] = self.errors.get(error, 0) + count


class _Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"
    SKIP = "skip"
    RELEASE = "release"


@dataclass(frozen=True)
class _Result:
    message: OutgoingMessage
    outcome: _Outcome
    error: str | None = None


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: ``5 s * 2^(attempts-1)``, capped at an
    hour, with "equal jitter" (half fixed, half random) so a recovering receiver is not hit by
    every retry at the same instant."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1))
    draw = (rng or random).uniform(0.0, ceiling / 2)
    return timedelta(seconds=ceiling / 2 + draw)


def _due(table: sa.Table, now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        table.c.status == DeliveryStatus.PENDING,
        table.c.next_attempt_at <= now,
        sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
    )


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def claim_due(
    factory: sessionmaker[Session],
    *,
    now: datetime,
    batch: int,
    lease: timedelta,
    channels: Iterable[Channel] | None = None,
) -> tuple[datetime, list[OutgoingMessage]]:
    """Lease up to ``batch`` due messages to this caller; returns the lease value and them.

    Commits the claim at once: the caller sends afterwards, outside any transaction.
    """
    table = _outbox()
    token = now + lease
    due = _due(table, now)
    if channels is not None:
        due = sa.and_(due, table.c.channel.in_([c.value for c in channels]))
    with unit_of_work(factory) as session:
        pick = sa.select(table.c.id).where(due).order_by(table.c.next_attempt_at).limit(batch)
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        claimed = list(
            session.execute(
                sa.update(table)
                .where(table.c.id.in_(pick.scalar_subquery()), due)
                .values(claimed_until=token)
                .returning(table.c.id)
            ).scalars()
        )
        messages: list[OutgoingMessage] = []
        for ids in _chunks(claimed):
            rows = session.execute(
                sa.select(
                    OutboxMessage.id,
                    OutboxMessage.channel,
                    OutboxMessage.address,
                    OutboxMessage.idempotency_key,
                    OutboxMessage.payload,
                    OutboxMessage.attempts,
                    WebhookEndpoint.id,
                    WebhookEndpoint.secret_encrypted,
                    WebhookEndpoint.is_active,
                )
                .join(AlertRecipient, AlertRecipient.id == OutboxMessage.recipient_id)
                .outerjoin(WebhookEndpoint, WebhookEndpoint.id == AlertRecipient.endpoint_id)
                .where(OutboxMessage.id.in_(ids))
            )
            for row_id, channel, address, key, payload, attempts, ep_id, secret, active in rows:
                target = (
                    WebhookTarget(ep_id, secret.decode("ascii"), bool(active))
                    if ep_id is not None and secret is not None
                    else None
                )
                messages.append(
                    OutgoingMessage(
                        id=row_id,
                        channel=channel,
                        address=address,
                        idempotency_key=key,
                        payload=payload,
                        attempts=attempts,
                        webhook=target,
                    )
                )
    messages.sort(key=lambda m: m.id)
    return token, messages


def _attempt(
    senders: Mapping[Channel, Sender], message: OutgoingMessage, deadline: float | None = None
) -> _Result:
    if deadline is not None and time.monotonic() > deadline:
        return _Result(message, _Outcome.RELEASE)  # too late in the lease to start a send
    sender = senders.get(message.channel)
    if sender is None:
        return _Result(message, _Outcome.SKIP, f"no sender for channel {message.channel.value}")
    try:
        sender.send(message)
    except ChannelNotConfiguredError as error:
        return _Result(message, _Outcome.SKIP, str(error))
    except DeliveryError as error:
        outcome = _Outcome.DEAD if error.permanent else _Outcome.RETRY
        return _Result(message, outcome, str(error)[:ERROR_CHARS])
    except Exception as error:  # a sender bug must not stop the other messages
        logger.exception("sender for %s failed unexpectedly", message.channel.value)
        return _Result(message, _Outcome.RETRY, f"{type(error).__name__}: {error}"[:ERROR_CHARS])
    return _Result(message, _Outcome.SENT)


def send_messages(
    senders: Mapping[Channel, Sender],
    messages: Sequence[OutgoingMessage],
    *,
    concurrency: int,
    deadline: float | None = None,
) -> list[_Result]:
    """Send ``messages`` in parallel (threads share each sender's connection pool).

    No send starts after ``deadline`` (``time.monotonic()``): those messages are released
    unsent, so a slow round never outlives its lease.
    """
    if not messages:
        return []
    if concurrency <= 1 or len(messages) == 1:
        return [_attempt(senders, m, deadline) for m in messages]
    with ThreadPoolExecutor(
        max_workers=min(concurrency, len(messages)), thread_name_prefix="childlink-send"
    ) as pool:
        return list(pool.map(lambda m: _attempt(senders, m, deadline), messages))


def record_results(
    factory: sessionmaker[Session],
    results: Sequence[_Result],
    *,
    token: datetime,
    finished: datetime,
    max_attempts: int,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Write a round's outcomes in one transaction, only to rows still under its lease."""
    table = _outbox()
    report = DeliveryReport()
    sent: list[uuid.UUID] = []
    retries: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    released: list[uuid.UUID] = []
    for result in results:
        if result.error:
            label = result.error.split(":", 1)[0][:80]
            report.errors[label] = report.errors.get(label, 0) + 1
        attempts = result.message.attempts + 1
        if result.outcome is _Outcome.SENT:
            sent.append(result.message.id)
        elif result.outcome is _Outcome.RELEASE:
            released.append(result.message.id)
        elif result.outcome is _Outcome.SKIP:
            skipped.append(
                {
                    "b_id": result.message.id,
                    "b_next": finished + UNCONFIGURED_RECHECK,
                    "b_error": result.error,
                }
            )
        elif result.outcome is _Outcome.DEAD or attempts >= max_attempts:
            dead.append({"b_id": result.message.id, "b_error": result.error})
        else:
            retries.append(
                {
                    "b_id": result.message.id,
                    "b_next": finished + backoff_delay(attempts, rng=rng),
                    "b_error": result.error,
                }
            )
    report.sent, report.retried, report.dead, report.skipped, report.released = (
        len(sent),
        len(retries),
        len(dead),
        len(skipped),
        len(released),
    )
    leased = sa.and_(table.c.claimed_until == token, table.c.status == DeliveryStatus.PENDING)
    by_id = table.c.id == sa.bindparam("b_id")
    with unit_of_work(factory) as session:
        connection = session.connection()
        for ids in _chunks(sent):
            connection.execute(
                sa.update(table)
                .where(table.c.id.in_(ids), leased)
                .values(
                    status=DeliveryStatus.SENT,
                    sent_at=finished,
                    attempts=table.c.attempts + 1,
                    claimed_until=None,
                    last_error=None,
                )
            )
        for ids in _chunks(released):
            connection.execute(
                sa.update(table).where(table.c.id.in_(ids), leased).values(claimed_until=None)
            )
        if retries:
            connection.execute(
                sa.update(table)
                .where(by_id, leased)
                .values(
                    attempts=table.c.attempts + 1,
                    next_attempt_at=sa.bindparam("b_next"),
                    last_error=sa.bindparam("b_error"),
                    claimed_until=None,
                ),
                retries,
            )
        if dead:
            connection.execute(
                sa.update(table)
                .where(by_id, leased)
                .values(
                    status=DeliveryStatus.DEAD,
                    attempts=table.c.attempts + 1,
                    last_error=sa.bindparam("b_error"),
                    claimed_until=None,
                ),
                dead,
            )
        if skipped:
            connection.execute(
                sa.update(table)
                .where(by_id, leased)
                .values(
                    next_attempt_at=sa.bindparam("b_next"),
                    last_error=sa.bindparam("b_error"),
                    claimed_until=None,
                ),
                skipped,
            )
    return report


def deliver_due(
    factory: sessionmaker[Session],
    senders: Mapping[Channel, Sender],
    *,
    now: datetime | None = None,
    batch: int = 500,
    lease: timedelta = timedelta(seconds=60),
    max_attempts: int = 8,
    concurrency: int = 16,
    channels: Iterable[Channel] | None = None,
    rng: random.Random | None = None,
    longest_send_s: float = 15.0,
) -> DeliveryReport:
    """One delivery round: claim up to ``batch`` due messages, send them, record the results.

    Args:
        factory: sessions on the ChildLink database.
        senders: one sender per channel (see :func:`~childlink.alerts.channels.build_senders`);
            a channel without a sender leaves its messages pending.
        now: the current time (tests pass a controllable clock); default the real time. Send
            and retry times are ``now`` plus the time the round took.
        batch: most messages claimed in this round; the worker runs rounds until one is short.
        lease: how long claimed messages stay reserved (after a crash, how long they wait).
            No send starts later than ``lease - longest_send_s`` into the round; messages
            not started by then are released unsent for the next round, so the results are
            recorded while the lease still holds.
        max_attempts: attempts before a transiently failing message is dead-lettered.
        concurrency: parallel sends.
        channels: only these channels (default all).
        rng: randomness of the backoff jitter (tests fix it).
        longest_send_s: the longest one send may take (channel timeouts plus slack).

    Returns:
        How many were sent, scheduled for retry, dead-lettered, skipped (unconfigured
        channel) or released unsent (the round ran out of lease).
    """
    started = time.monotonic()
    moment = now or utc_now()
    token, messages = claim_due(factory, now=moment, batch=batch, lease=lease, channels=channels)
    if not messages:
        return DeliveryReport(seconds=time.monotonic() - started)
    budget = lease.total_seconds() - longest_send_s
    if budget <= 0:
        budget = lease.total_seconds() / 2
    results = send_messages(senders, messages, concurrency=concurrency, deadline=started + budget)
    elapsed = time.monotonic() - started
    finished = moment + timedelta(seconds=elapsed)
    report = record_results(
        factory, results, token=token, finished=finished, max_attempts=max_attempts, rng=rng
    )
    report.seconds = time.monotonic() - started
    return report


def deliver_all(
    factory: sessionmaker[Session],
    senders: Mapping[Channel, Sender],
    *,
    batch: int = 500,
    max_rounds: int | None = None,
    **options: Any,
) -> DeliveryReport:
    """Run rounds while they come back full (a backlog), then return the summed report."""
    total = DeliveryReport()
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        report = deliver_due(factory, senders, batch=batch, **options)
        total.add(report)
        rounds += 1
        if report.claimed < batch:
            break
    return total


@dataclass(frozen=True)
class OutboxStatus:
    """How the outbox stands: counts by channel and status, and how late the oldest one is."""

    counts: dict[str, dict[str, int]]
    pending_due: int
    in_flight: int
    oldest_pending_age_s: float | None
    pending_errors: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "pending_due": self.pending_due,
            "in_flight": self.in_flight,
            "oldest_pending_age_s": self.oldest_pending_age_s,
            "pending_errors": self.pending_errors,
        }


def outbox_status(session: Session, *, now: datetime | None = None) -> OutboxStatus:
    """Counts by channel and status, due and leased pending messages, the oldest pending age,
    and the most frequent errors of pending messages (e.g. an unconfigured channel)."""
    moment = now or utc_now()
    table = _outbox()
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for channel, status, count in session.execute(
        sa.select(OutboxMessage.channel, OutboxMessage.status, sa.func.count()).group_by(
            OutboxMessage.channel, OutboxMessage.status
        )
    ):
        counts[channel.value][status.value] = int(count)
    pending = table.c.status == DeliveryStatus.PENDING
    due = int(session.scalar(sa.select(sa.func.count()).where(_due(table, moment))) or 0)
    in_flight = int(
        session.scalar(sa.select(sa.func.count()).where(pending, table.c.claimed_until >= moment))
        or 0
    )
    oldest = session.scalar(sa.select(sa.func.min(OutboxMessage.created_at)).where(pending))
    errors = [
        {"channel": channel.value, "last_error": error, "messages": int(count)}
        for channel, error, count in session.execute(
            sa.select(OutboxMessage.channel, OutboxMessage.last_error, sa.func.count())
            .where(pending, OutboxMessage.last_error.is_not(None))
            .group_by(OutboxMessage.channel, OutboxMessage.last_error)
            .order_by(sa.func.count().desc())
            .limit(10)
        )
    ]
    return OutboxStatus(
        counts=dict(counts),
        pending_due=due,
        in_flight=in_flight,
        oldest_pending_age_s=(moment - oldest).total_seconds() if oldest is not None else None,
        pending_errors=errors,
    )
