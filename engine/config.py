"""Settings for every process (API, CLI, learner), read once from ``NBO_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Every setting the product reads; the README lists them with their defaults."""

    model_config = SettingsConfigDict(env_prefix="NBO_", extra="ignore", frozen=True)

    redis_url: str | None = Field(
        default=None,
        description="Redis/Valkey URL. Unset: `nbo serve` starts an embedded Valkey.",
    )
    data_dir: Path = Field(
        default=Path(".nbo"), description="Where the embedded Valkey keeps its files."
    )
    admin_key: SecretStr | None = Field(
        default=None, description="Bootstrap key accepted with the admin role."
    )
    redis_timeout_ms: int = Field(
        default=250, ge=1, description="Socket timeout of every store command."
    )
    redis_connect_timeout_ms: int = Field(
        default=250, ge=1, description="Timeout to open a store connection."
    )
    redis_retries: int = Field(
        default=1, ge=0, le=5, description="Retries of a failed store command (no backoff)."
    )
    redis_max_connections: int = Field(default=64, ge=1, description="Connection pool size.")
    customer_retention_days: int = Field(
        default=395,
        ge=0,
        description="Customer data expires this long after its last write (0: never).",
    )
    host: str = Field(default="127.0.0.1", description="`nbo serve` bind address.")
    port: int = Field(default=8000, ge=0, le=65535, description="`nbo serve` port.")
    workers: int = Field(default=1, ge=1, le=64, description="`nbo serve` worker processes.")
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    key_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a verified API key is trusted without a lookup."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info")
    log_format: Literal["json", "text"] = Field(default="json")
