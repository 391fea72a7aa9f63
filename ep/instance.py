"""The instance folder: ep.ini and the folders an installation works in (`ep init`)."""

import secrets
from pathlib import Path

from ep.config import SECTION_CONNECTIONS, SECTION_SETTINGS, SETTINGS, Config

HEADER = """\
; EP (Egen Provhantering): configuration of this installation.
;
; The sections and keys mirror OmniqOperator's web.config. Defaults are built in: a key
; that is commented out (;) has the value shown. Relative paths are relative to this
; folder. Environment variables override this file: EP_DATABASE_URL for the connection
; string, EP_<Key> for a key below (e.g. EP_HealthCheckErrorStatusCode=200).
; `ep config show` prints the effective value of every key and where it came from.
"""


def render_ini(*, secret_key: str, values: dict[str, str], database_url: str) -> str:
    """Return a commented ep.ini: ``values`` set, every other key shown at its default."""
    lines = [
        HEADER,
        f"[{SECTION_CONNECTIONS}]",
        "; any SQLAlchemy URL; production: postgresql+psycopg://user@host/ep",
        f"EP = {database_url}",
        "",
        f"[{SECTION_SETTINGS}]",
    ]
    values = {"SecretKey": secret_key, **values}
    for setting in SETTINGS:
        if setting.help:
            lines.append(f"; {setting.help}")
        if setting.name in values:
            lines.append(f"{setting.name} = {values[setting.name]}")
        else:
            lines.append(f";{setting.name} = {setting.default}")
    return "\n".join(lines) + "\n"


def write_ini(path: Path, *, values: dict[str, str], database_url: str) -> bool:
    """Write ep.ini unless it exists; return whether it was written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_ini(
        secret_key=secrets.token_urlsafe(32), values=values, database_url=database_url
    )
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)  # it holds the secret key
    return True


def ensure_folders(config: Config) -> list[Path]:
    """Create the folders the configuration names; return those that were made."""
    made = []
    for setting in SETTINGS:
        if setting.path == "dir" and config[setting.name]:
            folder = config.path_of(setting.name)
            assert folder is not None  # the setting is set
            if not folder.is_dir():
                folder.mkdir(parents=True)
                made.append(folder)
    return made
