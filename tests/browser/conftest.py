"""A real EP behind gunicorn with TLS on a free loopback port, and Debian's chromium
driven by playwright, with axe-core (npm, tests/browser/node_modules) injected per page."""

import os
import re
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ep.identity.certificates import issue_server_certificate, make_ca, write_issued
from ep.timeutil import utcnow
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
# one folder per database: `make test` runs the SQLite and PostgreSQL passes at once
ARTIFACTS = (
    HERE.parent.parent
    / "test-artifacts"
    / "browser"
    / ("postgresql" if os.environ.get("EP_TEST_DATABASE_URL") else "sqlite")
)
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
LISTENING = re.compile(r"Listening at: (https?://[\d.]+:\d+)")


def pytest_collection_modifyitems(items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="/usr/bin/chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _server_certificate(folder: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 (the browser ignores HTTPS errors)."""
    now = utcnow()
    server = issue_server_certificate(
        make_ca("EP browser test CA", now=now), ["127.0.0.1"], now=now
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    write_issued(server, cert_path, key_path)
    return cert_path, key_path


@contextmanager
def serve_tls(folder: Path, database_url: str, **settings: str):
    """Run gunicorn over TLS for a new instance in ``folder``; yield (url, ep.ini path)."""
    config = make_instance(folder, database_url, **settings)
    cert, key = _server_certificate(folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env["EP_CONFIG"] = str(config)
    command = [GUNICORN, "--bind", "127.0.0.1:0", "--workers", "1"]
    command += ["--certfile", str(cert), "--keyfile", str(key)]
    command += ["--chdir", str(HERE.parent.parent), "wsgi:app"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None  # piped
    url, lines = None, []
    for line in process.stderr:
        lines.append(line)
        if match := LISTENING.search(line):
            url = match.group(1).replace("http://", "https://")
        if "Booting worker" in line or len(lines) > 50:
            break
    if url is None:
        process.kill()
        pytest.fail("gunicorn did not start:\n" + "".join(lines))
    try:
        yield url, config
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stderr.close()


@dataclass(frozen=True)
class LiveServer:
    url: str
    config: Path  # its ep.ini, for `ep` commands against the same installation
    inbox: Path


@pytest.fixture
def live_server(app, database_url, tmp_path):
    """gunicorn serving EP over TLS on 127.0.0.1 (a port the OS picks), dev login on."""
    with serve_tls(tmp_path, database_url, CitizenLogin="dev") as (url, config):
        yield LiveServer(url, config, tmp_path / "inbox")


@contextmanager
def launched_chromium():
    """Debian's chromium, headless, driven by playwright."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make browser-deps` (npm ci in tests/browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def chromium():
    with launched_chromium() as browser:
        yield browser


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

    def follow(self, locator) -> None:
        """Click a link or a submit button and wait until the page it leads to has loaded.

        A bare click returns as soon as the click is dispatched, while the old document
        is still shown: reading or checking the page then races the navigation."""
        with self.page.expect_navigation():
            locator.click()

    def check(self, label: str) -> None:
        """Run axe-core on the page as it is; fail on any serious or critical violation."""
        if not self.page.evaluate("() => typeof axe !== 'undefined'"):  # once per document
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
