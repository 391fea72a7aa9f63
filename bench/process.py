"""A command run for a benchmark: its exit code, output, wall time and peak memory.

The peak resident set size is the command's own. Read from the benchmark's process, a
child's ru_maxrss would start at this process's size at the fork (the kernel keeps the
high-water mark across exec), and a benchmark that has just filled a database with the
ORM is often the larger; so the command runs under a small launcher of its own, which
writes the figure to a file.
"""

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as f: f.write(str(resource.getrusage("
    "resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)"
)


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


def run_measured(command: list[str], env: dict[str, str], timeout: float = 3600) -> Measured:
    """Run ``command`` to its end; wall time and peak RSS (MB) of the command alone."""
    with tempfile.TemporaryDirectory() as folder:
        figure = Path(folder) / "maxrss"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(figure), *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        seconds = time.perf_counter() - started
        peak_kb = int(figure.read_text()) if figure.exists() else 0
    return Measured(done.returncode, done.stdout, done.stderr, seconds, peak_kb / 1024)


def environment(config: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any EP_ setting, with EP_CONFIG and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    env["EP_CONFIG"] = str(config)
    env.update({f"EP_{key}": value for key, value in settings.items()})
    return env
