"""Settings for every process (API, CLI, learner), read once from ``NBO_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.domain.roles import Role

__all__ = ["DEFAULT_ATTRIBUTION_WINDOWS", "RateLimit", "Settings"]

DEFAULT_ATTRIBUTION_WINDOWS: dict[str, int] = {
    "web": 3600,
    "mobile_app": 3600,
    "email": 7 * 86_400,
    "push": 86_400,
    "sms": 86_400,
    "call_center": 86_400,
    "in_store": 86_400,
    "social": 86_400,
}


class RateLimit(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class Settings(BaseSettings):
    """Every setting the product reads; docs/configuration.md lists them with their defaults."""

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
        default=1,
        ge=0,
        le=5,
        description="Retries of a store command whose connection failed (no backoff); a "
        "timed-out command is never sent again, since it may have run.",
    )
    redis_max_connections: int = Field(default=64, ge=1, description="Connection pool size.")
    customer_retention_days: int = Field(
        default=395,
        ge=0,
        description="Customer data expires this long after its last write (0: never).",
    )
    max_undeclared_attributes: int = Field(
        default=500,
        ge=0,
        description="Most attributes customer writes may introduce without a declaration; "
        "a write that would pass it is refused (422 naming the attribute).",
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
    key_stale_seconds: float = Field(
        default=300.0,
        ge=0,
        description="While the store is down, a key verified this recently is still accepted "
        "(0: never); any other key gets 401.",
    )
    rate_limits: dict[Role, RateLimit] = Field(
        default_factory=dict,
        description="Per-key token buckets by role (JSON), e.g. "
        '`{"client": {"per_second": 50, "burst": 100}}`; a role not named is not limited.',
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins browsers may call the API from (JSON list; empty: CORS off).",
    )
    policy: dict[str, Any] = Field(
        default_factory=lambda: {"name": "linucb", "alpha": 0.5, "epsilon": 0.05},
        description="Default policy as JSON (name, alpha, l2_lambda, epsilon, tau, seed).",
    )
    model_scope: Literal["global", "channel_group", "placement"] = Field(
        default="global",
        description="What one model covers: everything, a channel group, or one placement.",
    )
    reward: Literal["click", "conversion", "conversion_value"] = Field(
        default="click", description="What the bandit learns from."
    )
    attribution_windows: dict[str, int] = Field(
        default_factory=dict,
        description="Seconds per channel an event may join its decision (JSON; merged "
        "over the defaults: web and mobile_app 1 h, email 7 d, others 1 d).",
    )
    late_event_grace_seconds: int = Field(
        default=86_400, ge=0, description="Late events are still recognised (stored, not learned)."
    )
    decision_log_maxlen: int = Field(
        default=200_000, ge=1000, description="Decision log stream entries kept (approximate)."
    )
    erasure_tombstone_seconds: int = Field(
        default=86_400,
        ge=1,
        description="After an erasure, writes for that customer are refused this long.",
    )
    request_id_ttl_seconds: int = Field(
        default=86_400, ge=1, description="How long a request_id replays the same decision."
    )
    activity_id_ttl_seconds: int = Field(
        default=86_400,
        ge=1,
        description="How long an activity_id is remembered: a retry within it is counted once.",
    )
    response_ranked_placements: list[str] = Field(
        default_factory=list,
        description="Placements ranked by response alone, not expected value (JSON list).",
    )
    learner_batch_size: int = Field(default=2000, ge=1, le=100_000)
    learner_block_ms: int = Field(
        default=100, ge=1, description="Longest a learner waits for new rewards."
    )
    learner_min_commit_ms: int = Field(
        default=500,
        ge=0,
        description="Pause after a commit so rewards gather into larger batches.",
    )
    learner: Literal["process", "in_process", "off"] = Field(
        default="process",
        description=(
            "The learner `nbo serve` runs: `process`, one learner process beside the API "
            "(its training never holds the API's interpreter lock); `in_process`, a learner "
            "task in every API worker; `off`, none (run `nbo learner` elsewhere). An app "
            "started without `nbo serve` (e.g. by uvicorn) runs a learner only `in_process`."
        ),
    )
    embedded_learner: bool | None = Field(
        default=None,
        description="Deprecated, read only when `NBO_LEARNER` is unset: true is `in_process`, "
        "false is `off`.",
    )

    @model_validator(mode="after")
    def _learner_from_deprecated_setting(self) -> Settings:
        if self.embedded_learner is not None and "learner" not in self.model_fields_set:
            learner = "in_process" if self.embedded_learner else "off"
            object.__setattr__(self, "learner", learner)  # frozen: set once, while validating
        return self

    log_level: Literal["debug", "info", "warning", "error"] = Field(default="info")
    log_format: Literal["json", "text"] = Field(default="json")
    event_takeover_seconds: int = Field(
        default=5,
        ge=0,
        le=3600,
        description="An event joined but not recorded (the store failed between the two steps) "
        "is recorded by a later delivery once this old; sooner, that delivery is refused as in "
        "progress (409), since the first request may still be recording it.",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's native OpenTelemetry traces, metrics and logs, sent to the "
        "globally configured providers. Off by default: metrics are Prometheus (/metrics), and "
        "looking the providers up costs every request.",
    )

    def attribution_window(self, channel: str) -> int:
        return self.attribution_windows.get(channel, DEFAULT_ATTRIBUTION_WINDOWS[channel])
