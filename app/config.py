"""One settings object, read from ASSISTCAL_* environment variables (or a .env file)."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTCAL_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./assistcal.db",
        description="SQLAlchemy URL; sqlite:///path or postgresql://user@host/db",
    )
    bootstrap_admin_key: SecretStr | None = Field(
        default=None, description="When set, this key exists with the admin role."
    )
    admin_org: str = Field(
        default="ASSISTCAL", description="Organization that owns bootstrap admin keys."
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_upload_bytes: int = Field(
        default=50 * 1_048_576, ge=1024, description="Largest file accepted by POST /imports."
    )
    idempotency_ttl_hours: int = Field(default=48, ge=24)
    read_cache_mb: int = Field(
        default=64,
        ge=0,
        description="Memory per process for answers to repeated reads (0: no read cache).",
    )
    key_touch_seconds: int = Field(
        default=60, ge=0, description="How stale an API key's last_used_at may get."
    )
    db_pool_size: int = Field(
        default=10, ge=1, description="Database connections, and so requests served at once."
    )
    queue_timeout_seconds: float = Field(
        default=30, gt=0, description="How long a request waits for a connection before a 503."
    )
    webhook_worker: bool = Field(
        default=True, description="Send webhook deliveries from this process."
    )
    webhook_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often the worker looks for retries that are due."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks call loopback, private and link-local addresses (tests, "
        "a receiver inside your own network).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a receiver may take to answer."
    )
    rate_limit_per_key: int = Field(
        default=1200, ge=0, description="Requests a minute per API key (0: no limit)."
    )
    rate_limit_per_address: int = Field(
        default=600,
        ge=0,
        description="Requests a minute per client address without a key, feeds aside (0: none).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins whose pages may call the API from a browser; none by default.",
    )
    db_statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="Longest a database statement may run (0: no limit)."
    )
    request_timeout_seconds: float = Field(
        default=60,
        ge=0,
        description="Longest a request may take before its answer starts: 408 if its body "
        "had not arrived, else 503 with nothing stored (0: no limit).",
    )
    import_timeout_seconds: float = Field(
        default=900, ge=0, description="The same for file imports (POST /imports, /import)."
    )
    json_logs: bool = Field(
        default=True, description="The service's logs as JSON lines (one per request)."
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="The service's public address (e.g. https://calendar.example.org), for feed "
        "links; by default the address and scheme (http or https) the request came to.",
    )
