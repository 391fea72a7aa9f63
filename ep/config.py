"""Configuration: instance/ep.ini, shaped like the web.config the operators know.

Defaults live here; the INI file holds only what an installation changes; environment
variables override both (``EP_CONFIG`` picks the file, ``EP_DATABASE_URL`` the connection
string, ``EP_<Key>`` an appSettings key). Every value is validated when the program starts,
and a problem stops it with one line naming the file, the key and what is wrong.

Relative paths in the file are relative to the instance folder (the folder that holds
ep.ini), so a batch started by cron from ``/`` finds the same files as the web server.
"""

import configparser
import functools
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ep.batches.spine import BATCHES, SPINE

SECTION_CONNECTIONS = "connectionStrings"
SECTION_SETTINGS = "appSettings"


class ConfigError(Exception):
    """A configuration problem, worded as the one line the operator sees."""


# -- value parsers: each takes the raw text and returns the value or raises ValueError --


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be a whole number above 0")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not true or false")


def _str(text: str) -> str:
    return text.strip()


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip()
        if value not in choices:
            raise ValueError(f"{value!r} is not one of: {', '.join(choices)}")
        return value

    return parse


NOTIFICATION_TRANSPORTS = ("file", "smtp", "sms")


def _transports(text: str) -> tuple[str, ...]:
    """Parse NotificationChannel: one transport, or a comma-separated list of them."""
    names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    if not names:
        raise ValueError(f"name at least one of: {', '.join(NOTIFICATION_TRANSPORTS)}")
    for name in names:
        if name not in NOTIFICATION_TRANSPORTS:
            raise ValueError(f"{name!r} is not one of: {', '.join(NOTIFICATION_TRANSPORTS)}")
    if "file" in names and len(names) > 1:
        raise ValueError(
            "file sends every message to files and cannot be combined with smtp or sms"
        )
    return names


def _http_url(text: str) -> str:
    value = text.strip()
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


def _issuer(text: str) -> str:
    """An OpenID issuer: an https URL (the ID token's iss, without a trailing slash)."""
    value = text.strip().rstrip("/")
    parts = urlsplit(value)
    if value and (parts.scheme != "https" or not parts.hostname):
        raise ValueError(f"{value!r} is not an https:// URL")
    return value


def _words(text: str) -> tuple[str, ...]:
    """Values separated by commas or spaces (scopes, acr URIs), in order, without repeats."""
    return tuple(dict.fromkeys(text.replace(",", " ").split()))


def _networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or network") from None
    return tuple(networks)


def _rate_limit(text: str) -> str:
    """A Flask-Limiter limit such as ``10 per minute`` or ``10/minute; 50/day``."""
    value = text.strip()
    if value in BUILT_IN_RATE_LIMITS:  # known good (tests/test_config.py reads each)
        return value
    # imported only for a limit an installation sets itself: limits (with its storage
    # backends) takes ~10 ms of CPU to import, which every `ep` command would pay
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a rate limit such as '10 per minute'") from None
    return value


def _status_code(text: str) -> int:
    value = _int(text)
    if not 200 <= value <= 599:
        raise ValueError(f"{value} is not an HTTP status code (200-599)")
    return value


@dataclass(frozen=True)
class Setting:
    """One appSettings key: its default (as INI text), parser and whether it is secret."""

    name: str
    default: str
    parse: Callable[[str], Any] = _str
    secret: bool = False
    # "file": a path that must exist when set; "dir": a folder EP may create, which must be
    # set unless ``optional`` (then empty switches off what writes there)
    path: str | None = None
    optional: bool = False
    help: str = ""


SETTINGS: tuple[Setting, ...] = (
    # the health check (operations manual section 2 and 3)
    *(
        Setting(
            f"{spec.name}WarnAfterMinutesInactivity",
            str(spec.warn_after_minutes),
            _positive_int,
            help=f"the health check turns ERROR when {spec.name} has been inactive this long",
        )
        for spec in SPINE
    ),
    Setting(
        "HealthCheckErrorStatusCode",
        "503",
        _status_code,
        help="HTTP status with ERROR (200 for monitors that only match the text)",
    ),
    Setting(
        "OperatorAuthorizationCacheSeconds",
        "300",
        _int,
        help="how long a verified operator is trusted while the database is down",
    ),
    Setting(
        "CertificateExpiryWarnDays",
        "30",
        _positive_int,
        help="warn this many days before a certificate expires",
    ),
    Setting(
        "CrlNextUpdateWarnDays",
        "2",
        _int,
        help="warn this many days before the CRL's next update; past it, certificates are refused",
    ),
    # client certificates (SITHS) for staff, EP.Admin and OmniqOperator
    Setting(
        "ClientCertificateSource",
        "tls",
        _choice("tls", "header"),
        help="tls: gunicorn terminates TLS; header: a trusted proxy forwards the certificate",
    ),
    Setting(
        "TrustedProxies",
        "127.0.0.1",
        _networks,
        help="addresses or networks (the nginx front) whose client-certificate header, "
        "X-Forwarded-For and X-Forwarded-Proto are honoured, comma-separated",
    ),
    Setting(
        "ClientCertificateHeader",
        "X-SSL-Client-Cert",
        help="header with the URL-escaped PEM client certificate (header mode)",
    ),
    Setting(
        "TrustedCaFile",
        "",
        path="file",
        help="PEM file with the CA certificates that SITHS client certificates must chain to",
    ),
    Setting(
        "CrlFile",
        "",
        path="file",
        help="PEM or DER certificate revocation list; empty = no CRL check",
    ),
    Setting(
        "ServerCertificateFile",
        "",
        path="file",
        help="the server certificate, watched for expiry by the health check",
    ),
    Setting(
        "ServerKeyFile",
        "",
        path="file",
        help="the server certificate's private key (gunicorn serves TLS in tls mode)",
    ),
    # residents
    Setting(
        "CitizenLogin",
        "oidc",
        _choice("oidc", "header", "dev"),
        help="oidc: the region's identity provider (OpenID Connect); header: the region's "
        "login proxy; dev: a test login (never in production)",
    ),
    # OpenID Connect (ep.web.oidc), with CitizenLogin = oidc
    Setting("OidcIssuer", "", _issuer, help="the identity provider's issuer URL (https)"),
    Setting("OidcClientId", "", help="EP's client id at the identity provider"),
    Setting(
        "OidcClientSecret",
        "",
        secret=True,
        help="client secret (client_secret_basic); or use OidcPrivateKeyFile",
    ),
    Setting(
        "OidcPrivateKeyFile",
        "",
        path="file",
        help="PEM private key for private_key_jwt client authentication, instead of a secret",
    ),
    Setting(
        "OidcCaFile",
        "",
        path="file",
        help="PEM CA certificates the provider's TLS certificate must chain to; "
        "empty = the system's",
    ),
    Setting(
        "OidcScopes",
        "openid profile https://id.oidc.se/scope/naturalPersonNumber",
        _words,
        help="scopes asked for, separated by spaces",
    ),
    Setting(
        "OidcPersonnummerClaim",
        "https://id.oidc.se/claim/personalIdentityNumber",
        help="the claim holding the personnummer or samordningsnummer",
    ),
    Setting(
        "OidcRequiredAcr",
        "http://id.elegnamnden.se/loa/1.0/loa3",
        _words,
        help="accepted assurance levels (acr), separated by spaces; any other is refused",
    ),
    Setting(
        "OidcPostLogoutRedirect",
        "",
        _http_url,
        help="where the provider sends the resident after logging out; empty = EP's start page",
    ),
    Setting(
        "CitizenIdentityHeader",
        "X-Personnummer",
        help="header with the resident's personnummer, honoured only from CitizenIdentityProxies",
    ),
    Setting(
        "CitizenIdentityProxies",
        "",
        _networks,
        help="addresses or networks allowed to send CitizenIdentityHeader (the region's "
        "login proxy, or the nginx front that passes it on only from there); required "
        "with CitizenLogin = header, empty trusts no one",
    ),
    Setting(
        "CitizenGivenNameHeader",
        "",
        help="header with the resident's given name from the login proxy (UTF-8), honoured "
        "only from TrustedProxies; empty: not read. The proxy must strip it from clients",
    ),
    Setting(
        "CitizenFamilyNameHeader",
        "",
        help="header with the resident's family name, as CitizenGivenNameHeader",
    ),
    Setting(
        "SecretKey",
        "",
        secret=True,
        help="signs sessions and CSRF tokens; keep it secret, the same on every web host",
    ),
    Setting("DefaultLanguage", "sv", _choice("sv", "en"), help="sv or en"),
    # who stands behind the e-service: named in the accessibility statement and privacy notice
    Setting(
        "ServiceOwner",
        "",
        help="the region (personuppgiftsansvarig) named on the resident's legal pages; "
        "empty: 'the region'",
    ),
    Setting(
        "ServiceContactEmail",
        "",
        help="where residents report accessibility problems and ask about their data",
    ),
    Setting(
        "PublicUrl",
        "",
        help="the address residents open EP at (https://…/): the login link in notifications "
        "and the QR code on a home kit; empty: the address the staff page was opened at, "
        "and notifications without a link",
    ),
    Setting(
        "DataProtectionOfficerEmail",
        "",
        help="the region's data protection officer (dataskyddsombud)",
    ),
    # sessions and rate limits (ep.web.sessions, ep.web.ratelimit)
    Setting(
        "SessionIdleMinutes",
        "15",
        _positive_int,
        help="a session unused this long has ended; the resident logs in again",
    ),
    Setting(
        "SessionLifetimeMinutes",
        "720",
        _positive_int,
        help="a session ends this long after the login however much it is used",
    ),
    Setting(
        "RateLimitStorage",
        "",
        secret=True,
        help="where rate-limit counters are kept: empty = EP's database; or a Redis URI "
        "(redis://host:6379/0) shared by every web host",
    ),
    Setting("LoginRateLimit", "10 per 15 minutes", _rate_limit, help="logins per personnummer"),
    Setting(
        "LoginAddressRateLimit",
        "100 per 15 minutes",
        _rate_limit,
        help="logins per client address",
    ),
    Setting("KitCodeRateLimit", "10 per hour", _rate_limit, help="kit codes per resident"),
    Setting("KitCodeAddressRateLimit", "100 per hour", _rate_limit, help="kit codes per address"),
    Setting(
        "StaffLookupRateLimit",
        "300 per hour",
        _rate_limit,
        help="patient look-ups by personnummer per staff member",
    ),
    Setting(
        "StaffLookupAddressRateLimit",
        "3000 per hour",
        _rate_limit,
        help="patient look-ups by personnummer per client address",
    ),
    Setting(
        "ApiRateLimit",
        "600 per minute",
        _rate_limit,
        help="calls to /api/v1 per function certificate (HSA-ID and fingerprint)",
    ),
    Setting(
        "ApiLabReportRateLimit",
        "300 per minute",
        _rate_limit,
        help="lab reports POSTed to /api/v1/lab-reports per function certificate, "
        "counted within ApiRateLimit too",
    ),
    Setting(
        "LogFormat",
        "text",
        _choice("text", "json"),
        help="text: one line per event; json: one JSON object per line, for log shippers",
    ),
    # notifications
    Setting(
        "NotificationChannel",
        "file",
        _transports,
        help="file (offline, every message to a folder) or sms, smtp or both ('sms, smtp'), "
        "each resident by their own preference",
    ),
    Setting(
        "NotificationDirectory",
        "outbox/notifications",
        path="dir",
        help="where the file channel writes messages",
    ),
    Setting("SmtpHost", "localhost"),
    Setting("SmtpPort", "25", _positive_int),
    Setting("SmtpUser", ""),
    Setting("SmtpPassword", "", secret=True),
    Setting("SmtpStartTls", "false", _bool),
    Setting("SmtpFrom", "no-reply@ep.invalid"),
    Setting("SmsGatewayUrl", "", _http_url, help="HTTP JSON endpoint of the SMS gateway"),
    Setting("SmsGatewayToken", "", secret=True),
    Setting("SmsSender", "Region"),
    Setting(
        "ProviderTimeoutSeconds",
        "10",
        _positive_int,
        help="timeout for each call to the SMS gateway or SMTP server",
    ),
    # lab results
    Setting(
        "LabInboxDirectory",
        "inbox",
        path="dir",
        help="where labs drop result files (processed/ and error/ are made beside them)",
    ),
    Setting(
        "LabAckDirectory",
        "outbox/ack",
        path="dir",
        optional=True,
        help="where HL7 ACKs for the sending systems are written (empty: none are written)",
    ),
    Setting(
        "LabInboxSettleSeconds",
        "5",
        _int,
        help="IMPORTRESULTS leaves a file alone until it has been unchanged this long "
        "(a lab may still be writing it)",
    ),
    Setting(
        "LabMaxFileBytes",
        "5242880",
        _positive_int,
        help="a lab file larger than this is refused (moved to error/ with a reason) "
        "unread: no lab message is that big, and reading it would cost memory",
    ),
    # batches
    Setting(
        "BatchLeaseSeconds",
        "300",
        _positive_int,
        help="a running batch silent this long is presumed dead and taken over",
    ),
    Setting("BatchChunkSize", "500", _positive_int, help="items committed together by a batch"),
    Setting(
        "BatchMaxAttempts",
        "5",
        _positive_int,
        help="tries of a transient error before the item is left for the next run",
    ),
    Setting(
        "BatchRetryDelayMilliseconds",
        "1000",
        _int,
        help="wait before the first retry of a transient error; doubled for each next try",
    ),
    # backups (`ep batch backup` nightly, `ep db backup` by hand, `ep db restore`) and
    # PostgreSQL's WAL archive
    Setting(
        "BackupDirectory",
        "backups",
        path="dir",
        help="where BACKUP and `ep db backup` write each backup (a folder with its manifest)",
    ),
    Setting(
        "BackupRetainCount",
        "14",
        _positive_int,
        help="how many backups are kept; older ones are deleted after a new one is written",
    ),
    Setting(
        "WalArchivingExpected",
        "false",
        _bool,
        help="true when PostgreSQL archives WAL (pgBackRest): the health check then reads "
        "pg_stat_archiver and warns when archiving fails or falls behind",
    ),
    Setting(
        "WalArchiveWarnAfterMinutes",
        "60",
        _positive_int,
        help="warn when finished WAL segments have waited this long for the archive",
    ),
    # retention (gallring), in days; audit events are kept at least five years regardless
    Setting(
        "RetainOrdersDays",
        "3650",
        _positive_int,
        help="PURGE removes closed orders and their results older than this",
    ),
    Setting(
        "RetainNotificationsDays",
        "365",
        _positive_int,
        help="PURGE removes sent notifications older than this",
    ),
    Setting(
        "RetainLabMessagesDays",
        "3650",
        _positive_int,
        help="PURGE removes processed lab messages older than this",
    ),
    Setting(
        "RetainBatchRunsDays",
        "400",
        _positive_int,
        help="PURGE removes batch run history older than this",
    ),
    Setting(
        "RetainAuditEventsDays",
        "1827",
        _positive_int,
        help="audit events are kept at least this long, and never under 5 years",
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
# the defaults of the rate-limit settings: _rate_limit need not read them again
BUILT_IN_RATE_LIMITS = frozenset(s.default for s in SETTINGS if s.parse is _rate_limit)
SECRET_CONNECTION_PARTS = ("password",)


@dataclass
class Config:
    """The effective configuration: values, where each came from, and the instance folder."""

    path: Path
    instance_path: Path
    database_url: str
    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def path_of(self, name: str) -> Path | None:
        """Return a path setting resolved against the instance folder, None when unset."""
        value = self.values[name]
        return resolve_path(self.instance_path, value) if value else None

    def warn_after_minutes(self, batch: str) -> int:
        return self.values[f"{batch}WarnAfterMinutesInactivity"]

    def shown(self) -> list[tuple[str, str, str, str]]:
        """Rows of (section, key, value, source) with secrets masked, for `ep config show`."""
        rows = [
            (
                SECTION_CONNECTIONS,
                "EP",
                mask_url(self.database_url),
                self.sources.get("EP", "default"),
            )
        ]
        for setting in SETTINGS:
            raw = self.values[setting.name]
            if setting.secret and raw:
                text = "********"
            elif isinstance(raw, tuple):
                text = ", ".join(str(v) for v in raw)
            elif isinstance(raw, bool):
                text = "true" if raw else "false"
            else:
                text = str(raw)
            rows.append((SECTION_SETTINGS, setting.name, text, self.sources[setting.name]))
        return rows


@functools.lru_cache(maxsize=256)
def resolve_path(instance_path: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else instance_path / path


def mask_url(url: str) -> str:
    """Hide the password in a connection URL."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("EP_CONFIG") or Path.cwd() / "instance" / "ep.ini")


def default_database_url(instance_path: Path) -> str:
    return f"sqlite:///{instance_path / 'ep.sqlite'}"


def load_config(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Config:
    """Read, override and validate the configuration; raise ConfigError on any problem.

    ``overrides`` are appSettings values (as INI text) applied last, for tests and tools;
    the key ``EP`` in them overrides the connection string.
    """
    environ = os.environ if environ is None else environ
    path = Path(path) if path is not None else default_config_path(environ)
    path = path.absolute()
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found (run `ep init`, or set EP_CONFIG)")
    instance_path = path.parent
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=(";", "#"), strict=True
    )
    # keys keep their case, as in web.config (configparser's documented way: typeshed
    # declares optionxform a method)
    parser.optionxform = str  # type: ignore[method-assign,assignment]
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {_one_line(exc)}") from None

    for section in parser.sections():
        if section not in (SECTION_CONNECTIONS, SECTION_SETTINGS):
            raise ConfigError(
                f"{path}: unknown section [{section}] "
                f"(expected [{SECTION_CONNECTIONS}] and [{SECTION_SETTINGS}])"
            )

    raw: dict[str, tuple[str, str]] = {s.name: (s.default, "default") for s in SETTINGS}
    if parser.has_section(SECTION_SETTINGS):
        lowered = {name.lower(): name for name in SETTINGS_BY_NAME}
        for key, value in parser.items(SECTION_SETTINGS):
            name = lowered.get(key.lower())
            if name is None:
                raise ConfigError(f"{path}: [{SECTION_SETTINGS}] {key}: {_unknown_key(key)}")
            raw[name] = (value, str(path))

    database = (default_database_url(instance_path), "default")
    if parser.has_section(SECTION_CONNECTIONS):
        for key, value in parser.items(SECTION_CONNECTIONS):
            if key != "EP":
                raise ConfigError(
                    f"{path}: [{SECTION_CONNECTIONS}] {key}: unknown connection string "
                    "(EP is the only one)"
                )
            database = (value.strip(), str(path))

    for env_name, value in environ.items():
        if not env_name.startswith("EP_") or env_name in ("EP_CONFIG", "EP_TEST_DATABASE_URL"):
            continue
        if env_name == "EP_DATABASE_URL":
            database = (value, "environment EP_DATABASE_URL")
            continue
        for setting in SETTINGS:
            if env_name[3:].lower() == setting.name.lower():
                raw[setting.name] = (value, f"environment {env_name}")
    for key, value in (overrides or {}).items():
        if key == "EP":
            database = (value, "override")
        elif key in SETTINGS_BY_NAME:
            raw[key] = (value, "override")
        else:
            raise ConfigError(f"override {key}: {_unknown_key(key)}")

    values: dict[str, Any] = {}
    sources = {"EP": database[1]}
    for setting in SETTINGS:
        text, source = raw[setting.name]
        where = path if source == str(path) else source
        try:
            values[setting.name] = setting.parse(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: {setting.name}: {exc}") from None
        if setting.path == "dir" and not values[setting.name] and not setting.optional:
            raise ConfigError(f"{where}: {setting.name}: empty; a folder is needed")
        if setting.path == "file" and values[setting.name]:
            resolved = resolve_path(instance_path, values[setting.name])
            if not resolved.is_file():
                raise ConfigError(f"{where}: {setting.name}: file not found: {resolved}")
        sources[setting.name] = source
    _check_notification(values, sources, path)
    _check_identity_header_source(values, sources, path)

    url = database[0]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url[len("sqlite:///") :]
        if relative and relative != ":memory:":
            url = f"sqlite:///{resolve_path(instance_path, relative)}"
    _check_url(url, path if database[1] == str(path) else database[1])
    return Config(
        path=path, instance_path=instance_path, database_url=url, values=values, sources=sources
    )


def _check_notification(values: dict[str, Any], sources: dict[str, str], path: Path) -> None:
    """Refuse an enabled transport that lacks what it needs to send."""
    if "sms" in values["NotificationChannel"] and not values["SmsGatewayUrl"]:
        source = sources["NotificationChannel"]
        where = path if source == str(path) else source
        raise ConfigError(
            f"{where}: NotificationChannel: sms is enabled but SmsGatewayUrl is not set"
        )


def _check_identity_header_source(
    values: dict[str, Any], sources: dict[str, str], path: Path
) -> None:
    """Refuse header login with nobody named to send the header: any client could."""
    if values["CitizenLogin"] == "header" and not values["CitizenIdentityProxies"]:
        source = sources["CitizenLogin"]
        where = path if source in (str(path), "default") else source
        raise ConfigError(
            f"{where}: CitizenLogin = header needs CitizenIdentityProxies, the address of "
            "the region's login proxy (or of the nginx front), or CitizenLogin = dev for a demo"
        )


def check_citizen_login(config: Config) -> None:
    """Refuse CitizenLogin = oidc without a provider, a client or a way to authenticate it.

    Checked where the web server starts (wsgi.py), not in load_config: the batches and
    `ep init` of a new installation run before the region's provider is filled in.
    """
    values = config.values
    if values["CitizenLogin"] != "oidc":
        return
    source = config.sources["CitizenLogin"]
    where = config.path if source in (str(config.path), "default") else source
    for name in ("OidcIssuer", "OidcClientId", "OidcPersonnummerClaim", "OidcRequiredAcr"):
        if not values[name]:
            raise ConfigError(f"{where}: CitizenLogin: oidc needs {name} (README: OpenID Connect)")
    if "openid" not in values["OidcScopes"]:
        raise ConfigError(f"{where}: OidcScopes: must include openid")
    if bool(values["OidcClientSecret"]) == bool(values["OidcPrivateKeyFile"]):
        raise ConfigError(
            f"{where}: CitizenLogin: oidc needs either OidcClientSecret or OidcPrivateKeyFile"
        )


def _check_url(url: str, where: object) -> None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{where}: EP: {url!r} is not a database URL") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"{where}: EP: {parsed.get_backend_name()!r} is not supported "
            "(use sqlite:/// or postgresql+psycopg://)"
        )


def _unknown_key(key: str) -> str:
    if key.lower().endswith("warnafterminutesinactivity"):
        batch = key[: -len("WarnAfterMinutesInactivity")]
        return f"unknown batch name {batch!r} (known: {', '.join(BATCHES)})"
    return "unknown key"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
