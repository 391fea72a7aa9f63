"""A real EP behind gunicorn with TLS on a free loopback port, and Debian's chromium
driven by playwright, with axe-core (npm, tests/browser/node_modules) injected per page."""

import datetime
import ipaddress
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import make_instance

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = HERE.parent.parent / "test-artifacts" / "browser"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
LISTENING = re.compile(r"Listening at: (https?://[\d.]+:\d+)")


def pytest_collection_modifyitems(items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="/usr/bin/chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class LiveServer:
    url: str
    config: Path  # its ep.ini, for `ep` commands against the same installation
    inbox: Path


@pytest.fixture
def live_server(app, database_url, tmp_path):
    """gunicorn serving EP over TLS on 127.0.0.1 (a port the OS picks), dev login on."""
    config = make_instance(tmp_path, database_url, CitizenLogin="dev")
    cert, key = _self_signed(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env["EP_CONFIG"] = str(config)
    process = subprocess.Popen(
        [
            GUNICORN,
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--certfile",
            str(cert),
            "--keyfile",
            str(key),
            "--chdir",
            str(HERE.parent.parent),
            "wsgi:app",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = None
    lines = []
    for line in process.stderr:
        lines.append(line)
        match = LISTENING.search(line)
        if match:
            url = match.group(1).replace("http://", "https://")
        if "Booting worker" in line:
            break
        if len(lines) > 50:
            break
    if url is None:
        process.kill()
        pytest.fail("gunicorn did not start:\n" + "".join(lines))
    try:
        yield LiveServer(url, config, tmp_path / "inbox")
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stderr.close()


@pytest.fixture
def chromium():
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser-deps` (npm ci in tests/browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Pages:
    """One resident's browser tab: visits pages, checks each with axe, keeps screenshots."""

    def __init__(self, page, base_url: str, name: str):
        self.page = page
        self.base_url = base_url
        self.name = name
        self.csp_violations: list[str] = []
        self.checked: list[str] = []
        page.on("console", self._console)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def goto(self, path: str):
        response = self.page.goto(self.base_url + path)
        assert response.status == 200, (path, response.status)
        return response

    def check(self, label: str) -> None:
        """Run axe-core on the page as it is; fail on any serious or critical violation."""
        self.page.evaluate(AXE.read_text(encoding="utf-8"))
        result = self.page.evaluate(
            """() => axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}
            })"""
        )
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{label}.png"), full_page=True)
        self.checked.append(label)
        assert not serious, f"axe on {label} ({self.page.url}):\n" + "\n".join(serious)
