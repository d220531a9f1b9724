"""Typed settings for ChildLink, read from ``CHILDLINK_*`` variables and an optional TOML file.

Settings are created once at the edges (CLI, web app, workers) through :func:`get_settings`
and passed down explicitly; no module builds an engine or reads the environment at import time.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "CHILDLINK_CONFIG_FILE"


class Settings(BaseSettings):
    """Runtime configuration.

    Precedence, highest first: constructor arguments, ``CHILDLINK_*`` environment variables,
    the TOML file named by ``CHILDLINK_CONFIG_FILE`` (default ``childlink.toml`` in the working
    directory, if present), then the defaults below. The embedded default needs no server: a
    SQLite file under ``data_dir``; production sets ``CHILDLINK_DATABASE_URL`` to PostgreSQL.
    """

    model_config = SettingsConfigDict(env_prefix="CHILDLINK_", extra="forbid")

    data_dir: Path = Field(
        default=Path("var"),
        description="Directory for the embedded database, analytical files and generated data.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means the embedded SQLite file <data_dir>/childlink.db.",
    )
    environment: str = Field(default="development", description="development, test or production.")
    sql_echo: bool = Field(default=False, description="Log every SQL statement (debugging).")
    mappings_dir: Path | None = Field(
        default=None,
        description="Extra folder of source mapping files (YAML); they override shipped ones.",
    )

    login_max_failures: int = Field(
        default=5, ge=1, description="Consecutive failed logins that lock an account."
    )
    login_lockout_minutes: int = Field(
        default=15, ge=1, description="How long a locked account stays locked."
    )
    login_attempts_per_ip: int = Field(
        default=20,
        ge=1,
        description="Login attempts allowed from one client address per rate-limit window.",
    )
    login_window_seconds: int = Field(
        default=300, ge=1, description="Sliding window of the per-address login rate limit."
    )
    session_hours: int = Field(default=8, ge=1, description="Lifetime of a web session.")

    # Alert delivery (childlink worker): the outbox, its channels and retries.
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server for alert e-mails; empty keeps e-mails pending (not sent).",
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_from: str = Field(
        default="childlink@localhost", description="From address of alert e-mails."
    )
    smtp_starttls: bool = Field(default=False, description="Upgrade SMTP with STARTTLS.")
    smtp_username: str | None = Field(default=None, description="SMTP login, if required.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    sms_gateway_url: str | None = Field(
        default=None,
        description="HTTP SMS gateway (POST JSON {to, text, idempotency_key}); empty keeps "
        "SMS pending.",
    )
    public_base_url: str | None = Field(
        default=None,
        description="Public address of the web UI, for links in e-mails and SMS "
        "(e.g. https://childlink.example.gov.cn); empty gives paths only.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook or SMS-gateway request."
    )
    delivery_max_attempts: int = Field(
        default=8, ge=1, description="Attempts before an outbox message is dead-lettered."
    )
    delivery_batch: int = Field(
        default=500, ge=1, description="Outbox messages claimed per delivery round."
    )
    delivery_concurrency: int = Field(
        default=16, ge=1, le=256, description="Parallel sends (threads and connections)."
    )
    delivery_lease_s: int = Field(
        default=60,
        ge=1,
        description="How long a claimed message is reserved for its worker; after a crash "
        "another worker retries it once the lease has run out.",
    )

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, value: str) -> str:
        allowed = {"development", "test", "production"}
        if value not in allowed:
            raise ValueError(f"environment must be one of {sorted(allowed)}, not {value!r}")
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL actually used: the configured one or the embedded SQLite file."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'childlink.db').resolve()}"

    @property
    def analytics_path(self) -> Path:
        """DuckDB file for analytical work (linkage, indicators)."""
        return self.data_dir / "analytics.duckdb"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get(CONFIG_FILE_ENV, "childlink.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def normalise_database_url(url: str) -> str:
    """Map bare ``postgresql://`` URLs to the psycopg 3 driver that ChildLink ships with."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache(maxsize=1)
def get_settings(**overrides: Any) -> Settings:
    """The process-wide settings, built once at an edge (CLI, app factory, worker)."""
    return Settings(**overrides)
