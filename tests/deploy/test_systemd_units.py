"""deploy/systemd: a web unit beside the batch timers, every unit hardened the same way,
rated by `systemd-analyze security` offline (no running systemd needed)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ep.unit_hardening import SYSTEMD_HARDENING

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SERVICES = sorted(UNITS.glob("*.service"))
MAX_EXPOSURE = 4.0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def test_there_is_a_web_unit_running_gunicorn_with_eps_settings():
    web = (UNITS / "ep-web.service").read_text()
    assert "ExecStart=/opt/ep/venv/bin/gunicorn -c python:ep.gunicorn_conf ep:create_app()" in web
    assert "WantedBy=multi-user.target" in web


def test_every_unit_ends_its_service_section_with_the_same_hardening_block():
    assert len(SERVICES) == 8  # the web, the MLLP listener and the six batches
    for unit in SERVICES:
        service = unit.read_text().split("[Service]")[1].split("\n[")[0]
        assert service.endswith(SYSTEMD_HARDENING), unit.name


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
