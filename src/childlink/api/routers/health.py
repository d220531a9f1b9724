"""Liveness and database reachability, for load balancers and the demo."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from childlink import __version__
from childlink.api.deps import SessionDep
from childlink.api.schemas import HealthRead

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthRead)
def health(session: SessionDep) -> HealthRead:
    """Up, and the database answers. Public and not audited (it reveals no child data)."""
    revision = session.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return HealthRead(status="ok", database="ok", revision=revision, version=__version__)
