"""Keys kept outside the database: the child-key HMAC secret, field-encryption keys, secrets.

Secrets live in files under ``<data_dir>/secrets/`` (or ``CHILDLINK_SECRETS_DIR``), created
on first use with mode 0600 in a 0700 folder; a deployment that injects secrets sets
``CHILDLINK_CHILD_KEY`` (base64) and/or ``CHILDLINK_FIELD_KEYS`` (the JSON of the keys file)
instead. Never in the repository, never in the database: whoever copies the database alone
cannot recompute child keys or read sealed fields.

* :func:`child_key` - keyed HMAC-SHA256 of a normalised ID number: a stable pseudonym.
* :class:`FieldCipher` - AES-256-GCM; every ciphertext names the key that made it
  (``v1.<key id>.<base64url(nonce | ciphertext | tag)>``), so keys can rotate while old
  ciphertexts stay readable until re-encrypted (``childlink keys rotate``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets as pysecrets
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from childlink.config import Settings, get_settings
from childlink.core.id_number import is_valid, upgrade15
from childlink.errors import ChildLinkError, InvalidIdNumberError

SECRETS_DIR_ENV = "CHILDLINK_SECRETS_DIR"
CHILD_KEY_ENV = "CHILDLINK_CHILD_KEY"
FIELD_KEYS_ENV = "CHILDLINK_FIELD_KEYS"
FIELD_KEYS_FILE = "field_keys.json"
CHILD_KEY_NAME = "child_key"
TOKEN_VERSION = "v1"
NONCE_BYTES = 12


class KeyStoreError(ChildLinkError):
    """A key is missing, malformed or unknown."""


class CipherError(ChildLinkError):
    """A ciphertext cannot be decrypted: unknown key, wrong context, or tampered with."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FieldKeys:
    """The field-encryption keys: which one encrypts, and every one that may still decrypt."""

    active: str
    keys: dict[str, bytes] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"active": self.active, "keys": {k: _b64(v) for k, v in self.keys.items()}},
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> FieldKeys:
        try:
            document = json.loads(text)
            keys = {str(k): _unb64(str(v)) for k, v in document["keys"].items()}
            active = str(document["active"])
        except (ValueError, KeyError, TypeError) as error:
            raise KeyStoreError(f"malformed field keys: {error}") from error
        if active not in keys or any(len(v) != 32 for v in keys.values()):
            raise KeyStoreError("field keys: the active key must exist and every key be 256-bit")
        return cls(active, keys)


def new_key_id() -> str:
    """A key id that sorts by creation time: ``k20261204T190102-3fa9``."""
    return f"k{datetime.now(UTC):%Y%m%dT%H%M%S}-{pysecrets.token_hex(2)}"


class KeyStore:
    """Secrets in one folder outside the database (or injected through the environment)."""

    def __init__(self, directory: Path, env: Mapping[str, str] | None = None) -> None:
        self.directory = directory
        self.env = dict(os.environ if env is None else env)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> KeyStore:
        """The store of a deployment: ``CHILDLINK_SECRETS_DIR`` or ``<data_dir>/secrets``."""
        chosen = settings or get_settings()
        override = os.environ.get(SECRETS_DIR_ENV)
        return cls(Path(override) if override else chosen.data_dir / "secrets")

    def _ensure_dir(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_dir()
        with (self.directory / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def secret(self, name: str, nbytes: int = 32) -> bytes:
        """The secret ``name``, created (random, file mode 0600) on first use."""
        if not name.replace("_", "").replace("-", "").isalnum():
            raise KeyStoreError(f"bad secret name {name!r}")
        path = self.directory / f"{name}.key"
        if not path.exists():
            with self._locked():
                if not path.exists():
                    self._write_new(path, _b64(pysecrets.token_bytes(nbytes)))
        value = _unb64(path.read_text("ascii").strip())
        if len(value) < 16:
            raise KeyStoreError(f"secret {path} is too short")
        return value

    def child_key_secret(self) -> bytes:
        """The HMAC key of child keys (``CHILDLINK_CHILD_KEY`` or the ``child_key`` file)."""
        injected = self.env.get(CHILD_KEY_ENV)
        if injected:
            value = _unb64(injected.strip())
            if len(value) < 16:
                raise KeyStoreError(f"{CHILD_KEY_ENV} must be at least 16 bytes, base64")
            return value
        return self.secret(CHILD_KEY_NAME)

    def field_keys(self) -> FieldKeys:
        """The field-encryption keys, created with one key on first use."""
        injected = self.env.get(FIELD_KEYS_ENV)
        if injected:
            return FieldKeys.from_json(injected)
        path = self.directory / FIELD_KEYS_FILE
        if not path.exists():
            with self._locked():
                if not path.exists():
                    key_id = new_key_id()
                    initial = FieldKeys(key_id, {key_id: AESGCM.generate_key(256)})
                    self._write_new(path, initial.to_json())
        return FieldKeys.from_json(path.read_text("utf-8"))

    def field_keys_mtime(self) -> float:
        path = self.directory / FIELD_KEYS_FILE
        return path.stat().st_mtime if path.exists() else 0.0

    def add_field_key(self) -> str:
        """Create a new key and make it the active one; older keys stay for decryption."""
        self._refuse_injected()
        with self._locked():
            current = self.field_keys()
            key_id = new_key_id()
            current.keys[key_id] = AESGCM.generate_key(256)
            current.active = key_id
            self._replace(self.directory / FIELD_KEYS_FILE, current.to_json())
        return key_id

    def retire_field_key(self, key_id: str) -> None:
        """Forget an old key (only once nothing is encrypted with it any more)."""
        self._refuse_injected()
        with self._locked():
            current = self.field_keys()
            if key_id == current.active:
                raise KeyStoreError("the active key cannot be retired; rotate first")
            if key_id not in current.keys:
                raise KeyStoreError(f"no field key {key_id}")
            del current.keys[key_id]
            self._replace(self.directory / FIELD_KEYS_FILE, current.to_json())

    def _refuse_injected(self) -> None:
        if self.env.get(FIELD_KEYS_ENV):
            raise KeyStoreError(
                f"keys injected through {FIELD_KEYS_ENV} are managed outside ChildLink"
            )

    def _write_new(self, path: Path, text: str) -> None:
        self._ensure_dir()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)

    def _replace(self, path: Path, text: str) -> None:
        temporary = path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        self._write_new(temporary, text)
        os.replace(temporary, path)


def normalise_id_number(id_number: str) -> str:
    """Full-width to half-width, spaces out, ``x`` to ``X``, 15 digits to 18.

    Raises:
        InvalidIdNumberError: not a valid ID number after normalisation.
    """
    text = unicodedata.normalize("NFKC", id_number).replace(" ", "").strip().upper()
    if len(text) == 15 and text.isdigit():
        text = upgrade15(text)
    if not is_valid(text):
        raise InvalidIdNumberError(f"not a valid ID number: {text[:6]}…")
    return text


def child_key(id_number: str, keys: KeyStore | None = None) -> str:
    """The child's pseudonymous key: HMAC-SHA256 (hex) of the normalised ID number.

    Stable for the same child across sources and spellings (15/18 digits, full-width), not
    reversible or recomputable without the key.

    Raises:
        InvalidIdNumberError: the ID number is not valid.
    """
    secret = (keys or KeyStore.from_settings()).child_key_secret()
    normalised = normalise_id_number(id_number)
    return hmac.new(secret, normalised.encode("ascii"), hashlib.sha256).hexdigest()


class FieldCipher:
    """AES-256-GCM encryption of field values under versioned, rotating keys.

    ``context`` is authenticated but not stored (AES-GCM associated data): pass where the value
    lives (``"sealed_attributes:<record id>"``) so a ciphertext copied to another row fails.
    """

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._keys = store.field_keys()
        self._loaded_at = store.field_keys_mtime()

    @property
    def active_key_id(self) -> str:
        return self._keys.active

    def key_ids(self) -> list[str]:
        return sorted(self._keys.keys)

    def reload(self) -> None:
        """Re-read the keys (another process may have rotated)."""
        self._keys = self.store.field_keys()
        self._loaded_at = self.store.field_keys_mtime()

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """``v1.<key id>.<base64url(nonce | ciphertext | tag)>`` under the active key."""
        nonce = pysecrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self._keys.keys[self._keys.active]).encrypt(
            nonce, plaintext.encode("utf-8"), context.encode("utf-8")
        )
        return f"{TOKEN_VERSION}.{self._keys.active}.{_b64(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        """The plaintext of a token made by :meth:`encrypt` with any known key.

        Raises:
            CipherError: malformed token, unknown key, wrong context or tampered ciphertext.
        """
        key_id = key_id_of(token)
        key = self._keys.keys.get(key_id)
        if key is None and self.store.field_keys_mtime() != self._loaded_at:
            self.reload()  # rotated by another process since we loaded
            key = self._keys.keys.get(key_id)
        if key is None:
            raise CipherError(f"unknown field key {key_id}")
        raw = _unb64(token.split(".", 2)[2])
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as error:
            raise CipherError(
                "ciphertext does not authenticate (tampered or wrong context)"
            ) from error
        return plain.decode("utf-8")


def key_id_of(token: str) -> str:
    """The key id embedded in a ciphertext token."""
    parts = token.split(".", 2)
    if len(parts) != 3 or parts[0] != TOKEN_VERSION or not parts[1]:
        raise CipherError("not a ChildLink ciphertext (v1.<key id>.<data>)")
    return parts[1]
