"""Keys outside the database: files and modes, child keys, AES-GCM with rotating keys."""

from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import pytest

from childlink.core.id_number import compose, to_legacy15
from childlink.errors import InvalidIdNumberError
from childlink.privacy.keys import (
    CHILD_KEY_ENV,
    CipherError,
    FieldCipher,
    KeyStore,
    child_key,
    key_id_of,
)


def valid_id() -> str:
    return compose("110105", dt.date(2015, 3, 2), 123)


def test_secret_files_are_private_and_stable(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "secrets", env={})
    first = store.secret("session")
    assert store.secret("session") == first
    path = tmp_path / "secrets" / "session.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert KeyStore(tmp_path / "secrets", env={}).secret("session") == first


def test_child_key_is_keyed_and_normalised(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "a", env={})
    number = valid_id()
    key = child_key(number, store)
    assert len(key) == 64
    assert number not in key
    born_1990s = compose("110105", dt.date(1995, 3, 2), 123)
    legacy = to_legacy15(born_1990s)
    assert child_key(legacy, store) == child_key(born_1990s, store)  # 15-digit legacy form
    full_width = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert child_key(f" {full_width} ", store) == key
    other_store = KeyStore(tmp_path / "b", env={})
    assert child_key(number, other_store) != key  # without the key nobody recomputes it
    injected = KeyStore(tmp_path / "c", env={CHILD_KEY_ENV: base64.b64encode(b"k" * 32).decode()})
    assert child_key(number, injected) == child_key(number, injected)
    assert not (tmp_path / "c").exists()  # injected keys leave no file
    with pytest.raises(InvalidIdNumberError):
        child_key(number[:-1] + ("0" if number[-1] != "0" else "1"), store)


def test_cipher_round_trip_and_context_binding(tmp_path: Path) -> None:
    cipher = FieldCipher(KeyStore(tmp_path, env={}))
    token = cipher.encrypt("抑郁发作 F32.1", context="row:1")
    assert key_id_of(token) == cipher.active_key_id
    assert "F32" not in token
    assert cipher.decrypt(token, context="row:1") == "抑郁发作 F32.1"
    with pytest.raises(CipherError):
        cipher.decrypt(token, context="row:2")
    tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(CipherError):
        cipher.decrypt(tampered, context="row:1")
    assert cipher.encrypt("x") != cipher.encrypt("x")  # fresh nonce every time


def test_rotation_keeps_old_ciphertexts_readable_until_retired(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, env={})
    reader = FieldCipher(store)  # a running process that loaded the keys before rotation
    old_token = reader.encrypt("secret", context="c")
    old_key = reader.active_key_id
    new_key = store.add_field_key()
    writer = FieldCipher(store)
    assert writer.active_key_id == new_key != old_key
    assert writer.decrypt(old_token, context="c") == "secret"
    new_token = writer.encrypt("secret", context="c")
    assert reader.decrypt(new_token, context="c") == "secret"  # reloads the rotated key file
    with pytest.raises(Exception, match="active key"):
        store.retire_field_key(new_key)
    store.retire_field_key(old_key)
    with pytest.raises(CipherError, match="unknown field key"):
        FieldCipher(store).decrypt(old_token, context="c")
