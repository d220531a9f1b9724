"""Errors of the quality context: unknown objects and refused quarantine actions."""

from __future__ import annotations

from childlink.errors import ChildLinkError


class QualityError(ChildLinkError):
    """A quality report or a quarantine action cannot be carried out as asked."""


class UnknownSourceError(QualityError):
    """No data source has the given code."""


class UnknownBatchError(QualityError):
    """No ingest batch has the given id."""


class UnknownRecordError(QualityError):
    """No source record has the given id."""


class RecordNotQuarantinedError(QualityError):
    """Release and fix only apply to records that are in quarantine."""


class InvalidCorrectionError(QualityError):
    """The release or fix request itself is incomplete (no note, unknown column, no change)."""


class StillQuarantinedError(QualityError):
    """The corrected row still fails standardisation; nothing was changed.

    Attributes:
        reason: code of the new quarantine reason (a ``QuarantineReason`` value).
        detail: the standardisation message for the corrected row.
    """

    def __init__(self, record_id: str, reason: str, detail: str | None):
        self.reason = reason
        self.detail = detail
        text = f"record {record_id} still fails after the correction: {reason}"
        super().__init__(f"{text} ({detail})" if detail else text)
