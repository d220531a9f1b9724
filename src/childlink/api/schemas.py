"""Request and response bodies of the API that are not a context's own schemas."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MeRead(BaseModel):
    """The caller as the policy sees them."""

    username: str
    display_name: str | None
    role: str
    role_zh: str
    role_en: str
    agency_code: str | None
    jurisdiction: str | None
    caseload: int
    via: str
    csrf_token: str | None = Field(
        default=None, description="Send as X-CSRF-Token on unsafe requests with the cookie."
    )


class LoginResponse(BaseModel):
    user: MeRead
    csrf_token: str


class OkResponse(BaseModel):
    ok: bool = True


class HealthRead(BaseModel):
    status: str
    database: str
    revision: str | None
    version: str


class BreakGlassRequest(BaseModel):
    reason: str = Field(min_length=10, max_length=2000, description="Why, for the supervisor.")
    minutes: int = Field(default=60, ge=1, le=240)


class BreakGlassRead(BaseModel):
    grant_id: uuid.UUID
    master_child_id: uuid.UUID
    expires_at: str
    reason: str


class ReviewDecisionRequest(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class ReviewRead(BaseModel):
    id: str
    status: str
    rule: str | None
    match_probability: float
    match_weight: float
    left: dict[str, Any]
    right: dict[str, Any]
    waterfall: dict[str, Any] | None = None
    reviewer: str | None
    note: str | None
    decided_at: str | None
    created_run_id: str | None


class ReviewList(BaseModel):
    counts: dict[str, int]
    items: list[ReviewRead]


class IngestRead(BaseModel):
    """What one push did: the batch and its row counts (rows in = the four counts)."""

    source: str
    batch_id: str
    outcome: str
    rows_in: int
    accepted: int
    fixed: int
    quarantined: int
    duplicate: int
    reconciles: bool
    quarantine: list[dict[str, Any]] = Field(
        default_factory=list, description="Row number, reason code and message per bad row."
    )
