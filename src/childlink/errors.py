"""ChildLink's exception hierarchy.

A :class:`ChildLinkError` is a user-facing problem (bad input, bad configuration, a refused
action): the CLI prints its message as one line and exits non-zero instead of a traceback.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ChildLinkError(Exception):
    """Base class for errors caused by input, configuration or permissions, not by bugs."""

    exit_code: int = 1


class ConfigurationError(ChildLinkError):
    """The settings or the environment do not allow the requested work."""


class DatabaseError(ChildLinkError):
    """The database cannot be reached or is not at the expected schema revision."""


class InvalidIdNumberError(ChildLinkError):
    """A resident ID number is malformed (length, characters, date or check character)."""


class SynthError(ChildLinkError):
    """The synthetic generator was asked for something it cannot produce."""


class IngestError(ChildLinkError):
    """A delivered file cannot be ingested; ``code`` says why, machine-readably."""

    code: str = "ingest_error"


class AuthenticationError(ChildLinkError):
    """Wrong username or password, or an unknown, expired or revoked token or key.

    The message never says which part was wrong, so it cannot be used to find usernames.
    """


class AccountLockedError(AuthenticationError):
    """Too many failed logins: the account is locked until ``locked_until``."""


class RateLimitedError(AuthenticationError):
    """Too many login attempts from one address in a short time; ``retry_after`` seconds."""

    retry_after: int = 60


class NotFoundError(ChildLinkError):
    """The requested object does not exist (or the caller may not know that it does)."""


class IdentityError(ChildLinkError):
    """An account operation that cannot be done (duplicate username, unknown role, ...)."""


class AccessDeniedError(ChildLinkError):
    """The policy refused the action; the message is the decision's reason."""
