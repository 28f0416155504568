"""Settings from ``TSUNAGU_*`` environment variables, validated once at start.

Every knob of the product is read here and nowhere else, so a missing or malformed value fails at start with a
message naming the variable, never later in the middle of a request.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = REPO_ROOT / "instance" / "tsunagu.db"

ENVIRONMENTS = ("production", "development", "test")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and what is wrong."""


#: A tenant slug (``tenancy.preset_schema.SLUG_RE``), repeated here because secrets are keyed by it.
_SLUG = re.compile(r"^[a-z0-9-]{2,63}$")
#: The environment variables that may hold tenants' OpenID client secrets, and nothing else.
_TENANT_SECRET_VARIABLE = re.compile(r"^TSUNAGU_OIDC_[A-Z0-9_]+_CLIENT_SECRET$")
#: The file, under ``TSUNAGU_SECRETS_DIR/<slug>/``, that may hold a tenant's OpenID client secret.
TENANT_SECRET_FILE = "oidc_client_secret"  # noqa: S105 - a file name, not a secret


def oidc_client_secret_ref(slug: str) -> str:
    """The one name tenant ``slug``'s ``client_secret_ref`` may have: ``TSUNAGU_OIDC_<SLUG>_CLIENT_SECRET``.

    The slug in upper case with ``-`` as ``_``. Slugs have no ``_``, so two tenants never share a name, and no
    platform variable (database, Redis, signing key, operators' secret) has this shape.
    """
    return f"TSUNAGU_OIDC_{slug.upper().replace('-', '_')}_CLIENT_SECRET"


class ForeignSecretRef(ValueError):
    """A tenant's secret reference points outside the tenant's own namespace."""

    def __init__(self, slug: str, ref: str) -> None:
        self.slug = slug
        self.ref = ref
        self.expected = oidc_client_secret_ref(slug)
        super().__init__(
            f"client_secret_ref {ref!r} is outside tenant {slug!r}'s namespace; it must be {self.expected}"
        )


#: The audit chain key used when ``TSUNAGU_AUDIT_HMAC_KEY`` is unset outside production: public, so a chain
#: made with it proves nothing — production refuses it.
DEV_AUDIT_HMAC_KEY = "tsunagu-audit-development-key-NOT-FOR-PRODUCTION"

SMTP_SECURITY = ("starttls", "tls", "none")
_SMTP_DEFAULT_PORT = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail goes (``TSUNAGU_SMTP_*``): a relay, often the municipality's own gateway."""

    host: str
    port: int
    security: str  # starttls | tls | none
    from_address: str
    user: str | None = None
    #: the password itself (``TSUNAGU_SMTP_PASSWORD``) or, preferred, a file holding it, read at each use
    password_value: str | None = field(default=None, repr=False)
    password_file: Path | None = None
    #: the whole SMTP conversation of one message must finish within this (connect to the reply to DATA)
    timeout_seconds: float = 30.0
    #: first retry after this; doubled for each further failed attempt
    retry_seconds: float = 60.0
    max_attempts: int = 8

    def password(self) -> str | None:
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip() or None
            except (FileNotFoundError, NotADirectoryError):
                return None
        return self.password_value

    @property
    def domain(self) -> str:
        """The domain of the sender address: the right-hand side of every Message-ID we make."""
        return self.from_address.rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    migration_database_url: str
    redis_url: str | None
    secret_key: str
    base_domain: str
    tenants_dir: Path
    workflows_dir: Path
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    max_upload_bytes: int = 2_000_000
    beat_interval_seconds: float = 5.0
    log_level: str = "INFO"
    celery_queue: str = "tsunagu"
    #: Sign-in requests (start + callback: two per sign-in) per minute per tenant and client address; an office
    #: behind one NAT address signs in together at nine, so this is a brake on floods, not on people.
    signin_rate_limit_per_minute: int = 60
    #: JSON API requests per minute per API token (429 ``rate_limited`` with ``Retry-After`` beyond).
    api_rate_limit_per_minute: int = 3000
    #: PostgreSQL limits on the application's connections (web, worker, beat; never the migration role):
    #: connecting, one statement, waiting for a lock, and a transaction left idle. The client also gives up on
    #: a round trip after ``db_statement_timeout_seconds`` + 1 s, for a server that cannot answer at all.
    db_connect_timeout_seconds: float = 5.0
    db_statement_timeout_seconds: float = 10.0
    db_lock_timeout_seconds: float = 5.0
    db_idle_in_transaction_timeout_seconds: float = 60.0
    #: An outbox message published but still unprocessed this long after is published again once nothing waits
    #: in the broker's queue (the broker or a killed worker lost it); the wait doubles with each re-send.
    outbox_redeliver_seconds: float = 20.0
    #: Failed handler runs after which a message becomes a dead letter (``tsunagu outbox dead-letters``).
    outbox_max_attempts: int = 8
    #: Platform operators' own OpenID provider (``/operator/``); all three or none.
    operator_issuer: str | None = None
    operator_client_id: str | None = None
    operator_client_secret: str | None = None
    #: E-mail addresses allowed to sign in as platform operators (lower case).
    operator_emails: frozenset[str] = frozenset()
    #: The demo's local OpenID provider: when set, every tenant signs in there (never in production).
    demo_idp_url: str | None = None
    #: Directory of per-tenant secret files, ``<dir>/<slug>/oidc_client_secret`` (e.g. a mounted Secret).
    secrets_dir: Path | None = None
    #: The ``TSUNAGU_OIDC_<SLUG>_CLIENT_SECRET`` variables found at start, and only those.
    tenant_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Outgoing e-mail; ``None`` when ``TSUNAGU_SMTP_HOST`` is unset (deliveries are then recorded as failed).
    smtp: SmtpSettings | None = None
    #: The address people open the product at, for links in e-mail (``<public_url>/t/<slug>/...``).
    public_url: str = "http://localhost:8000"
    #: The key of the audit trail's HMAC chain (``TSUNAGU_AUDIT_HMAC_KEY``), held outside the database. In
    #: development and test a fixed, visibly non-production key stands in; production refuses to start without
    #: a real one (at least 32 characters).
    audit_hmac_key: bytes = field(default=b"", repr=False)
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def operator_sign_in_configured(self) -> bool:
        return bool(self.operator_issuer and self.operator_client_id and self.operator_client_secret)

    def tenant_client_secret(self, slug: str, ref: str) -> str | None:
        """Tenant ``slug``'s OpenID client secret, or ``None`` when it is not set.

        ``ref`` (the tenant's ``client_secret_ref``) must be :func:`oidc_client_secret_ref` of the slug, else
        :class:`ForeignSecretRef`: a tenant administrator chooses the ref, so it is never used to look a name
        up — the value comes from the tenant's own variable, or failing that from the file
        ``TSUNAGU_SECRETS_DIR/<slug>/oidc_client_secret`` (read at each use, so a rotated secret is picked up).
        """
        if not _SLUG.match(slug) or ref != oidc_client_secret_ref(slug):
            raise ForeignSecretRef(slug, ref)
        value = self.tenant_secrets.get(ref)
        if not value and self.secrets_dir is not None:
            path = self.secrets_dir / slug / TENANT_SECRET_FILE
            try:
                value = path.read_text(encoding="utf-8").strip()
            except (FileNotFoundError, NotADirectoryError):
                value = None
        return value or None

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def uses_broker(self) -> bool:
        """Background work goes through Celery and Redis; without Redis it runs in-process (demo)."""
        return self.redis_url is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        problems: list[str] = []

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(f"TSUNAGU_{name}")
            if value is None or value.strip() == "":
                return default
            return value.strip()

        def get_int(name: str, default: int, minimum: int = 1) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"TSUNAGU_{name}={raw!r} is not a whole number")
                return default
            if value < minimum:
                problems.append(f"TSUNAGU_{name}={value} must be at least {minimum}")
            return value

        mode = get("ENV", "production") or "production"
        if mode not in ENVIRONMENTS:
            problems.append(f"TSUNAGU_ENV={mode!r} must be one of {', '.join(ENVIRONMENTS)}")

        database_url = get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
        database_url = _normalise_db_url(database_url)
        if not database_url.startswith(("sqlite:", "postgresql")):
            problems.append(
                "TSUNAGU_DATABASE_URL must be a postgresql:// or sqlite:// URL, "
                f"got scheme {urlsplit(database_url).scheme!r}"
            )
        migration_url = _normalise_db_url(get("MIGRATION_DATABASE_URL") or database_url)
        if migration_url.split(":", 1)[0] != database_url.split(":", 1)[0]:
            problems.append("TSUNAGU_MIGRATION_DATABASE_URL must point at the same kind of database")

        redis_url = get("REDIS_URL")
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            problems.append(f"TSUNAGU_REDIS_URL must start with redis:// or rediss://, got {redis_url!r}")

        secret_key = get("SECRET_KEY")
        if secret_key is None:
            if mode == "production":
                problems.append(
                    "TSUNAGU_SECRET_KEY is missing: set it to a random string of at least 32 characters "
                    '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
            secret_key = secrets.token_urlsafe(48)
        elif len(secret_key) < 32 and mode == "production":
            problems.append("TSUNAGU_SECRET_KEY must be at least 32 characters long")

        audit_key = get("AUDIT_HMAC_KEY")
        if audit_key is None:
            if mode == "production":
                problems.append(
                    "TSUNAGU_AUDIT_HMAC_KEY is missing: the audit trail's chain key, a random string of at least "
                    '32 characters kept outside the database (python -c "import secrets; '
                    'print(secrets.token_urlsafe(48))")'
                )
            audit_key = DEV_AUDIT_HMAC_KEY
        elif mode == "production" and (len(audit_key) < 32 or audit_key == DEV_AUDIT_HMAC_KEY):
            problems.append(
                "TSUNAGU_AUDIT_HMAC_KEY must be at least 32 characters and not the development key"
            )

        base_domain = (get("BASE_DOMAIN", "localhost") or "localhost").lower()
        if not re.fullmatch(r"[a-z0-9.-]+(:\d+)?", base_domain):
            problems.append(f"TSUNAGU_BASE_DOMAIN={base_domain!r} is not a host name")

        if mode == "production" and database_url.startswith("sqlite"):
            problems.append(
                "TSUNAGU_DATABASE_URL is SQLite but TSUNAGU_ENV=production: production needs PostgreSQL "
                "(set TSUNAGU_ENV=development for the embedded demo database)"
            )

        log_level = (get("LOG_LEVEL", "INFO") or "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(f"TSUNAGU_LOG_LEVEL={log_level!r} must be DEBUG, INFO, WARNING or ERROR")

        def get_seconds(name: str, default: float, at_least: float | None = None) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            low_ok = value >= at_least if at_least is not None else value > 0
            if not (low_ok and value < float("inf")):  # also refuses nan
                bound = f"at least {at_least:g}" if at_least is not None else "a positive number of"
                problems.append(f"TSUNAGU_{name}={raw!r} must be {bound} seconds")
                return default
            return value

        beat_interval = get_seconds("BEAT_INTERVAL_SECONDS", 5.0)

        operator_issuer = get("OPERATOR_ISSUER")
        operator_client_id = get("OPERATOR_CLIENT_ID")
        operator_client_secret = get("OPERATOR_CLIENT_SECRET")
        operator_emails = frozenset(
            e.strip().lower() for e in (get("OPERATOR_EMAILS", "") or "").split(",") if e.strip()
        )
        operator_values = (operator_issuer, operator_client_id, operator_client_secret)
        if any(operator_values) and not all(operator_values):
            problems.append(
                "TSUNAGU_OPERATOR_ISSUER, TSUNAGU_OPERATOR_CLIENT_ID and TSUNAGU_OPERATOR_CLIENT_SECRET "
                "must be set together (or none of them)"
            )
        if operator_issuer and not _is_issuer_url(operator_issuer):
            problems.append(
                f"TSUNAGU_OPERATOR_ISSUER={operator_issuer!r} must be an https:// URL "
                "(http:// only for localhost)"
            )
        if operator_issuer and not operator_emails:
            problems.append("TSUNAGU_OPERATOR_EMAILS is empty: list the operators' e-mail addresses")
        if any("@" not in e for e in operator_emails):
            problems.append("TSUNAGU_OPERATOR_EMAILS must be a comma-separated list of e-mail addresses")

        demo_idp_url = get("DEMO_IDP_URL")
        if demo_idp_url is not None:
            if mode == "production":
                problems.append("TSUNAGU_DEMO_IDP_URL is for the demo only and must not be set in production")
            elif not _is_issuer_url(demo_idp_url):
                problems.append(f"TSUNAGU_DEMO_IDP_URL={demo_idp_url!r} is not an http(s):// URL")

        secrets_dir = get("SECRETS_DIR")
        if secrets_dir is not None and not Path(secrets_dir).is_absolute():
            problems.append(f"TSUNAGU_SECRETS_DIR={secrets_dir!r} must be an absolute path")

        smtp = _smtp_settings(get, problems)
        public_url = (get("PUBLIC_URL") or "").rstrip("/")
        if public_url:
            parts = urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                problems.append(f"TSUNAGU_PUBLIC_URL={public_url!r} must be an http(s):// URL without query")
        elif smtp is not None and mode == "production":
            problems.append(
                "TSUNAGU_PUBLIC_URL is missing: e-mail links need the address people open Tsunagu at "
                "(e.g. https://tsunagu.example.jp)"
            )

        settings = cls(
            env=mode,
            database_url=database_url,
            migration_database_url=migration_url,
            redis_url=redis_url,
            secret_key=secret_key,
            base_domain=base_domain,
            tenants_dir=Path(get("TENANTS_DIR") or REPO_ROOT / "tenants"),
            workflows_dir=Path(get("WORKFLOWS_DIR") or REPO_ROOT / "workflows"),
            session_idle_minutes=get_int("SESSION_IDLE_MINUTES", 30),
            session_absolute_hours=get_int("SESSION_ABSOLUTE_HOURS", 12),
            max_upload_bytes=get_int("MAX_UPLOAD_BYTES", 2_000_000, minimum=1024),
            beat_interval_seconds=beat_interval,
            # libpq waits at least 2 s for a connection whatever it is told.
            db_connect_timeout_seconds=get_seconds("DB_CONNECT_TIMEOUT_SECONDS", 5.0, at_least=2),
            db_statement_timeout_seconds=get_seconds("DB_STATEMENT_TIMEOUT_SECONDS", 10.0),
            db_lock_timeout_seconds=get_seconds("DB_LOCK_TIMEOUT_SECONDS", 5.0),
            db_idle_in_transaction_timeout_seconds=get_seconds(
                "DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 60.0
            ),
            outbox_redeliver_seconds=get_seconds("OUTBOX_REDELIVER_SECONDS", 20.0),
            outbox_max_attempts=get_int("OUTBOX_MAX_ATTEMPTS", 8),
            log_level=log_level,
            celery_queue=get("CELERY_QUEUE", "tsunagu") or "tsunagu",
            signin_rate_limit_per_minute=get_int("SIGNIN_RATE_LIMIT_PER_MINUTE", 60),
            api_rate_limit_per_minute=get_int("API_RATE_LIMIT_PER_MINUTE", 3000),
            operator_issuer=operator_issuer,
            operator_client_id=operator_client_id,
            operator_client_secret=operator_client_secret,
            operator_emails=operator_emails,
            demo_idp_url=demo_idp_url,
            secrets_dir=Path(secrets_dir) if secrets_dir else None,
            tenant_secrets={k: v for k, v in env.items() if _TENANT_SECRET_VARIABLE.match(k) and v.strip()},
            smtp=smtp,
            public_url=public_url or "http://localhost:8000",
            audit_hmac_key=audit_key.encode("utf-8"),
            extra={k: v for k, v in env.items() if k.startswith("TSUNAGU_")},
        )
        if problems:
            raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))
        return settings


def _smtp_settings(get: Any, problems: list[str]) -> SmtpSettings | None:
    """``TSUNAGU_SMTP_*``, or ``None`` without a host (then the other variables must be unset too)."""
    host = get("SMTP_HOST")
    names = (
        "PORT",
        "SECURITY",
        "USER",
        "PASSWORD",
        "PASSWORD_FILE",
        "FROM",
        "TIMEOUT_SECONDS",
        "RETRY_SECONDS",
    )
    if host is None:
        stray = [f"TSUNAGU_SMTP_{n}" for n in names if get(f"SMTP_{n}") is not None]
        if stray:
            problems.append(f"{', '.join(stray)} set without TSUNAGU_SMTP_HOST")
        return None
    security = (get("SMTP_SECURITY", "starttls") or "starttls").lower()
    if security not in SMTP_SECURITY:
        problems.append(f"TSUNAGU_SMTP_SECURITY={security!r} must be one of {', '.join(SMTP_SECURITY)}")
        security = "starttls"

    def number(name: str, default: float, *, whole: bool = False, minimum: float = 0.0) -> float:
        raw = get(name)
        if raw is None:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            problems.append(f"TSUNAGU_{name}={raw!r} is not a {'whole ' if whole else ''}number")
            return default
        if value < minimum or (not whole and value <= 0):
            problems.append(f"TSUNAGU_{name}={raw!r} must be at least {minimum}")
            return default
        return value

    port = int(number("SMTP_PORT", _SMTP_DEFAULT_PORT[security], whole=True, minimum=1))
    if port > 65535:
        problems.append(f"TSUNAGU_SMTP_PORT={port} is not a port number")
    from_address = get("SMTP_FROM")
    if from_address is None or not re.fullmatch(r"[^@\s<>\"]+@[A-Za-z0-9.-]+", from_address):
        problems.append(
            "TSUNAGU_SMTP_FROM must be the sender's bare e-mail address (e.g. tsunagu@city.example.lg.jp); "
            "the display name is per tenant (from_name in the preset)"
        )
        from_address = from_address or "invalid@localhost"
    password = get("SMTP_PASSWORD")
    password_file = get("SMTP_PASSWORD_FILE")
    if password is not None and password_file is not None:
        problems.append("set TSUNAGU_SMTP_PASSWORD or TSUNAGU_SMTP_PASSWORD_FILE, not both")
    if password_file is not None and not Path(password_file).is_absolute():
        problems.append(f"TSUNAGU_SMTP_PASSWORD_FILE={password_file!r} must be an absolute path")
    user = get("SMTP_USER")
    if (password or password_file) and not user:
        problems.append("TSUNAGU_SMTP_USER is missing: a password is set but no user name")
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        from_address=from_address,
        user=user,
        password_value=password,
        password_file=Path(password_file) if password_file else None,
        timeout_seconds=number("SMTP_TIMEOUT_SECONDS", 30.0),
        retry_seconds=number("SMTP_RETRY_SECONDS", 60.0),
        max_attempts=int(number("SMTP_MAX_ATTEMPTS", 8, whole=True, minimum=1)),
    )


def _normalise_db_url(url: str) -> str:
    # Accept the common spellings and always use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _is_issuer_url(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.netloc or parts.query or parts.fragment:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")


def load_settings() -> Settings:
    """Settings for a ``tsunagu`` command: a missing or malformed variable is a clean CLI error."""
    import click

    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
