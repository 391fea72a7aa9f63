"""The wheel is EP: built from the sources, installed in a fresh venv in an empty folder,
it sets an instance up and serves it (no checkout, no `make`)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what a checkout has that a source tree for the build must not: state, caches, and the
# compiled catalogues (the build must make its own)
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "instance", "build", "dist", "*.egg-info",
    "__pycache__", ".ruff_cache", ".pytest_cache", "test-artifacts", "*.mo",
)  # fmt: skip


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    sources = tmp_path_factory.mktemp("sources") / "ep"
    shutil.copytree(ROOT, sources, ignore=NOT_SOURCES)
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, sources])
    (built,) = dist.glob("ep-*.whl")
    return built


@pytest.fixture(scope="module")
def installed_ep(tmp_path_factory, wheel) -> Path:
    """A fresh venv with the wheel and the locked dependencies; return its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", venv])
    bin_dir = venv / "bin"
    run([bin_dir / "pip", "install", "--quiet", "-c", ROOT / "constraints.txt", wheel])
    return bin_dir


@pytest.mark.slow
def test_the_wheel_holds_migrations_catalogues_templates_static_and_the_entry(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "ep/migrations/env.py",
        "ep/migrations/script.py.mako",
        "ep/migrations/alembic.ini",
        "ep/migrations/versions/0001_initial_schema.py",
        "ep/translations/citizen/en/LC_MESSAGES/messages.mo",
        "ep/translations/operator/en/LC_MESSAGES/messages.mo",
        "ep/web/templates/base.html",
        "ep/web/static/ep.css",
        "ep/gunicorn_conf.py",
    ):
        assert expected in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Dist: tzdata" in requires
    assert "pyopenssl" not in requires.lower()


@pytest.mark.slow
def test_from_an_empty_folder_pip_install_ep_init_and_gunicorn_serve_ep(installed_ep, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EP_", "PYTHON"))}
    # behind the production front, as deploy/nginx-ep.conf prescribes
    env.update(EP_ClientCertificateSource="header", EP_CitizenIdentityProxies="127.0.0.1")
    instance = tmp_path / "instance"
    init = run([installed_ep / "ep", "init", "--instance", instance], cwd=tmp_path, env=env)
    assert f"EP is ready in {instance}" in init.stdout

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    env.update(
        EP_CONFIG=str(instance / "ep.ini"),
        EP_BIND=f"fd://{listener.fileno()}",
        EP_WORKERS="1",
        EP_DefaultLanguage="en",
    )
    gunicorn = subprocess.Popen(
        [installed_ep / "gunicorn", "-c", "python:ep.gunicorn_conf", "ep:create_app()"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=[listener.fileno()],
    )
    listener.close()
    try:
        page = _get(f"http://127.0.0.1:{port}/", gunicorn)
        # English, from the catalogue the build compiled (else the Swedish source shows)
        assert "Self-service sampling (EP) is an e-service from the region." in page
        css = _get(f"http://127.0.0.1:{port}/static/ep.css", gunicorn)
        assert css == (ROOT / "ep/web/static/ep.css").read_text()
    finally:
        gunicorn.terminate()
        _, stderr = gunicorn.communicate(timeout=30)
    assert 'gunicorn.access: 127.0.0.1 "GET / HTTP/1.1" 200' in stderr


def _get(url: str, server: subprocess.Popen) -> str:
    """GET ``url`` once the server answers (it is still importing EP at first)."""
    deadline = time.monotonic() + 60
    assert server.stderr is not None  # piped
    while True:
        assert server.poll() is None, server.stderr.read()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
