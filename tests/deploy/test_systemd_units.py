"""deploy/systemd: a web unit beside the batch timers, every unit hardened the same way,
rated by `systemd-analyze security` offline (no running systemd needed)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = sorted(UNITS.glob("*.service"))
MAX_EXPOSURE = 4.0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def hardening_block(unit: Path) -> str:
    """The lines from the '# Hardening' comment to the end of the [Service] section."""
    text = unit.read_text()
    start = text.index("# Hardening")
    end = text.find("\n[", start)
    return text[start : end if end != -1 else None].strip()


def test_there_is_a_web_unit_running_gunicorn_with_eps_settings():
    web = (UNITS / "ep-web.service").read_text()
    assert "ExecStart=/opt/ep/venv/bin/gunicorn -c python:ep.gunicorn_conf ep:create_app()" in web
    assert "WantedBy=multi-user.target" in web


def test_every_unit_has_the_same_hardening_block():
    blocks = {unit.name: hardening_block(unit) for unit in SERVICES}
    assert len(blocks) == 6  # the web and the five batches
    assert len(set(blocks.values())) == 1, "the hardening differs between units"


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", SERVICES, ids=lambda unit: unit.name)
def test_systemd_analyze_rates_the_unit_safe(unit):
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout
