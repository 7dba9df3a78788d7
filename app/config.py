"""One settings object, read from ASSISTCAL_* environment variables (or a .env file)."""

import ipaddress
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SMTP_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    """Where mail is sent, read from ASSISTCAL_SMTP_URL: smtp://host:port (no encryption),
    smtp+starttls://user:pass@host:587, smtps://user:pass@host:465 (user and password
    URL-encoded)."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never the user or password
        return f"{self.scheme}://{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> "SmtpServer":
        parts = urlsplit(url)
        if parts.scheme not in SMTP_PORTS:
            raise ValueError(
                f"ASSISTCAL_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, "
                f"not {parts.scheme + '://' if parts.scheme else 'nothing'}"
            )
        try:
            port = parts.port or SMTP_PORTS[parts.scheme]
        except ValueError:
            raise ValueError("ASSISTCAL_SMTP_URL has a port that is not a number") from None
        if not parts.hostname:
            raise ValueError("ASSISTCAL_SMTP_URL names no host")
        if parts.username and parts.scheme == "smtp":
            raise ValueError(
                "ASSISTCAL_SMTP_URL has a password for an unencrypted connection: "
                "use smtp+starttls:// or smtps://"
            )
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )


class Settings(BaseSettings):
    # hide_input_in_errors: a start-up error names the setting, never echoes the values given
    # (a client secret, a database password).
    model_config = SettingsConfigDict(
        env_prefix="ASSISTCAL_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

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
    detection_model: bool = Field(
        default=True,
        description="Compare titles by meaning across languages with the bundled multilingual "
        "model (false: by words and the glossary only).",
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
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Proxies (addresses or networks, comma-separated) whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; none by default.",
    )

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):  # the environment's form: "10.0.0.0/8, 192.0.2.7"
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        """Each an address or a network (written as ipaddress writes it), so that a typing
        error is refused at start-up rather than trusted as a name that never matches."""
        networks = []
        for entry in value:
            try:
                networks.append(
                    str(ipaddress.ip_network(entry, strict=False))
                    if "/" in entry
                    else str(ipaddress.ip_address(entry))
                )
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return networks

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
    import_read_seconds: float = Field(
        default=60, ge=1, description="Longest a file import's reader may take (413 beyond)."
    )
    import_read_mb: int = Field(
        default=1024, ge=64, description="Memory a file import's reader may take (413 beyond)."
    )
    import_readers: int = Field(
        default=2, ge=1, description="Files read at once per process; more wait their turn."
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
    oidc_issuer: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Single sign-on: the OpenID Connect provider's issuer URL, whose "
        "/.well-known/openid-configuration describes it (e.g. "
        "https://login.microsoftonline.com/{tenant}/v2.0); with the client id and secret.",
    )
    oidc_client_id: str | None = Field(
        default=None, description="Single sign-on: this service's client id at the provider."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="Single sign-on: this service's client secret at the provider."
    )
    oidc_name: str = Field(
        default="single sign-on",
        min_length=1,
        description="Single sign-on: the provider's name on the sign-in button (\"Sign in with "
        '...", e.g. "UN Entra ID").',
    )
    oidc_trust_email: bool = Field(
        default=False,
        description="Single sign-on: take the provider's e-mail address as verified even without "
        "email_verified (Entra ID sends none unless the tenant adds the xms_edov claim); only "
        "for a provider whose addresses are the organization's own.",
    )

    @field_validator("oidc_issuer", "oidc_client_id", "oidc_client_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty variable (ASSISTCAL_OIDC_ISSUER= in a compose file) means not set."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _oidc_all_or_none(self) -> "Settings":
        """The issuer, client id and secret come together, so that a forgotten one is an error
        at start-up rather than a sign-in button that cannot work, or one that is missing."""
        given = {
            "ASSISTCAL_OIDC_ISSUER": self.oidc_issuer,
            "ASSISTCAL_OIDC_CLIENT_ID": self.oidc_client_id,
            "ASSISTCAL_OIDC_CLIENT_SECRET": self.oidc_client_secret,
        }
        missing = [name for name, value in given.items() if value is None]
        if missing and len(missing) < len(given):
            raise ValueError(
                "single sign-on needs ASSISTCAL_OIDC_ISSUER, ASSISTCAL_OIDC_CLIENT_ID and "
                "ASSISTCAL_OIDC_CLIENT_SECRET together (or none of them); missing: "
                + ", ".join(missing)
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        """Single sign-on is configured (the validator makes the three all or none)."""
        return self.oidc_issuer is not None

    smtp_url: SecretStr | None = Field(
        default=None,
        description="The mail server: smtp://host:port, smtp+starttls://user:pass@host:587 or "
        "smtps://user:pass@host:465. Unset: mails are written to the log instead.",
    )
    mail_from: str = Field(
        default="assistcal <assistcal@localhost>",
        description='The sender of e-mails, e.g. "assistcal <calendar@example.org>".',
    )
    smtp_ca_file: str | None = Field(
        default=None,
        description="A CA bundle (PEM) the mail server's certificate is checked against, for "
        "a server with an internal CA; by default the system's.",
    )
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long the mail server may take to answer."
    )
    mail_worker: bool = Field(default=True, description="Send e-mails from this process.")
    mail_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often the mail worker looks for retries that are due."
    )
    notice_wait_seconds: float = Field(
        default=45.0,
        ge=0,
        le=600,
        description="How long the e-mail notices of a change wait for others to the same person, "
        "to go out as one message (a person hears of a change within this and a few seconds).",
    )
    digest_hour: int = Field(
        default=6,
        ge=0,
        le=23,
        description="The hour (UTC) the running service sends coordinators' digests: daily ones "
        "every day, weekly ones on Mondays.",
    )

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            SmtpServer.parse(value.get_secret_value())  # refused at start-up, not at sending
            return value
        return None

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1] or "\n" in value or "\r" in value:
            raise ValueError(f"ASSISTCAL_MAIL_FROM: {value!r} is not an e-mail address")
        return value

    @property
    def smtp_server(self) -> SmtpServer | None:
        """The mail server, or None when mails are written to the log."""
        if self.smtp_url is None:
            return None
        return SmtpServer.parse(self.smtp_url.get_secret_value())
