"""The acting person as the policy engine sees them: role, agency, jurisdiction, caseload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from childlink.access.choices import Role


@dataclass(frozen=True)
class Principal:
    """Who is asking. Built by the identity layer from a user (or an API token / key).

    ``jurisdiction`` is a region code (2, 4, 6, 9 or 12 digits, trailing zeros stripped or not):
    the principal's area is that subtree of the region tree. ``caseload`` is the master children
    assigned to the person.
    """

    user_id: uuid.UUID | None
    username: str
    role: Role
    agency_code: str | None
    jurisdiction: str | None
    caseload: frozenset[uuid.UUID] = field(default_factory=frozenset)
    is_api_key: bool = False
