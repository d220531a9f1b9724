"""The per-address login rate limit: a sliding window, per address."""

from __future__ import annotations

import time

import pytest

from childlink.errors import RateLimitedError
from childlink.identity.service import LoginRateLimiter, digest, generate_password, hash_password


def test_sliding_window_per_address() -> None:
    limiter = LoginRateLimiter(attempts=3, window_seconds=0.3)
    for _ in range(3):
        limiter.hit("10.0.0.1")
    with pytest.raises(RateLimitedError) as refused:
        limiter.hit("10.0.0.1")
    assert refused.value.retry_after >= 1
    limiter.hit("10.0.0.2")  # another address has its own window
    time.sleep(0.35)
    limiter.hit("10.0.0.1")  # the old attempts have left the window


def test_secrets_are_never_stored_in_clear() -> None:
    password = generate_password()
    assert len(password) == 16
    assert generate_password() != password
    hashed = hash_password(password)
    assert hashed.startswith("$argon2id$")
    assert password not in hashed
    assert hash_password(password) != hashed  # salted
    assert digest("clt_x") != "clt_x"
    assert len(digest("clt_x")) == 64
