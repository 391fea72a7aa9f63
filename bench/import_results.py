"""Benchmark IMPORTRESULTS: N HL7 ORU^R01 files with 5 OBX each, parse-only vs end-to-end.

    .venv/bin/python bench/import_results.py [--messages 20000] [--database URL] [--record]

Both rates come from the same run on the same files:
- parse-only: ``hl7.parse`` of each message's text, in memory (the floor of any import);
- end-to-end: the real batch (``run_batch(IMPORTRESULTS)``): list the inbox, read each file,
  parse it into a LabReport (in the batch's reader processes, chunks ahead), match the
  order and cross-check the personnummer, store the LabMessage and 5 Results, update the
  order, commit (per chunk of 100 files), move the file to processed/ and write the ACK.
The CPU column compares CPU time: the batch's includes its reader processes.
The goal (issue 3): end-to-end at least 60 % of parse-only.

Without --database a SQLite file in a temporary folder is used; a PostgreSQL URL must
name an empty scratch database (its schema is dropped and migrated). The database holds
50,000 earlier lab messages and is ANALYZEd before the run, as a running installation's
would be (autovacuum keeps its statistics).
"""

import argparse
import os
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import hl7
from flask_migrate import upgrade
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session
from stdnum import luhn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ep import create_app  # noqa: E402
from ep.batches.import_results import IMPORTRESULTS  # noqa: E402
from ep.batches.runner import run_batch  # noqa: E402
from ep.config import load_config  # noqa: E402
from ep.domain.demo import load_demo  # noqa: E402
from ep.extensions import db  # noqa: E402
from ep.identity import new_order_number  # noqa: E402
from ep.models import Analysis, LabMessage, Order, Package, Person, package_analysis  # noqa: E402
from tests.support import make_instance, reset_schema  # noqa: E402

ANALYSES = (
    ("NPU27300", "B-HbA1c", "mmol/mol", "27-42", (30, 60)),
    ("NPU02192", "P-Glukos", "mmol/L", "4.0-6.0", (3.5, 9.0)),
    ("NPU03577", "P-TSH", "mIE/L", "0.4-4.0", (0.2, 6.0)),
    ("NPU01685", "P-PK(INR)", "INR", "2.0-3.0", (1.0, 4.0)),
    ("NPU08669", "P-PSA", "ug/L", "<3.0", (0.1, 5.0)),
)
PERSONS = 2_000
HISTORY = 50_000  # lab messages received before the run


def personnummer(index: int) -> str:
    born = date(1940, 1, 1) + timedelta(days=index * 7)
    body = f"{born:%y%m%d}{index % 1000:03d}"
    return f"{born.year // 100}{body}{luhn.calc_check_digit(body)}"


def message(number: int, pnr: str, order_number: str, rng: random.Random) -> str:
    segments = [
        "MSH|^~\\&|LIMS|KLINKEM_SUS|EP|REGION|20261126143005+0100||ORU^R01^ORU_R01|"
        f"BENCH{number:08d}|P|2.5.1|||AL|NE||UNICODE UTF-8",
        f"PID|1||{pnr[:8]}-{pnr[8:]}^^^SE-PNR^PN||Efternamn^Förnamn||{pnr[:8]}",
        f"ORC|RE|{order_number}|LAB{number}||CM",
        f"OBR|1|{order_number}|LAB{number}|BENCH^Benchmarkpaket^L|||20261126081500+0100"
        "|||||||||||||||20261126143000+0100||CH|F",
    ]
    for position, (code, name, unit, ref, (low, high)) in enumerate(ANALYSES, start=1):
        value = round(rng.uniform(low, high), 1)
        segments.append(
            f"OBX|{position}|NM|{code}^{name}^NPU||{value}|{unit}|{ref}|N|||F|||20261126081500+0100"
        )
    return "\r".join(segments) + "\r"


def prepare(database_url: str, folder: Path, count: int):
    reset_schema(database_url)
    config_path = make_instance(folder, database_url, LabInboxSettleSeconds="0")
    config = load_config(config_path, environ={})
    app = create_app(config)
    now = datetime.now(UTC)
    rng = random.Random(20261127)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        session = db.session
        load_demo(session, now=now)
        package = Package(code="BENCH5", name_sv="Benchmark", name_en="Benchmark", created_at=now)
        session.add(package)
        session.flush()
        codes = [a[0] for a in ANALYSES]
        ids = dict(session.execute(select(Analysis.code, Analysis.id)).all())
        session.execute(
            insert(package_analysis),
            [
                {"package_id": package.id, "analysis_id": ids[c], "position": i}
                for i, c in enumerate(codes)
            ],
        )
        people = [personnummer(i) for i in range(PERSONS)]
        session.execute(insert(Person), [{"personnummer": p, "created_at": now} for p in people])
        person_ids = dict(session.execute(select(Person.personnummer, Person.id)).all())
        numbers: set[str] = set()
        while len(numbers) < count:
            numbers.add(new_order_number())
        orders = []
        for index, number in enumerate(sorted(numbers)):
            orders.append(
                {
                    "number": number,
                    "person_id": person_ids[people[index % PERSONS]],
                    "package_id": package.id,
                    "status": "sampled",
                    "ordered_at": now,
                    "expires_at": now + timedelta(days=30),
                    "sampled_at": now,
                }
            )
        session.execute(insert(Order), orders)
        # a running installation has received messages before (without any, a fresh
        # table has no statistics and a planner may scan it for each chunk)
        for start in range(0, HISTORY, 10_000):
            session.execute(
                insert(LabMessage),
                [
                    {
                        "source": "KLINKEM_SUS",
                        "format": "hl7v2",
                        "control_id": f"EARLIER{n:08d}",
                        "payload": b"MSH|",
                        "sha256": f"{n:064d}",
                        "status": "imported",
                        "received_at": now - timedelta(days=1),
                    }
                    for n in range(start, min(start + 10_000, HISTORY))
                ],
            )
        session.commit()
        # the statistics autovacuum keeps in a running database (its first pass after a
        # bulk load comes within a minute; the batch here starts at once)
        session.execute(text("ANALYZE"))
        session.commit()
        db.engine.dispose()

    inbox = config.path_of("LabInboxDirectory")
    texts = []
    settled = time.time() - 60
    for index, order in enumerate(orders):
        body = message(index, people[index % PERSONS], order["number"], rng)
        texts.append(body)
        path = inbox / f"oru-{index:06d}.hl7"
        path.write_bytes(body.encode("utf-8"))
        os.utime(path, (settled, settled))
    return app, config, texts


def measure(database_url: str, count: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ep-bench-import-") as tmp:
        folder = Path(tmp)
        app, config, texts = prepare(database_url, folder, count)

        # parse-only before and after the import, so both see the same machine load
        parse_seconds, parse_cpu = parse_only(texts[: count // 2])
        with app.app_context(), Session(db.engine) as session:
            started, started_cpu = time.perf_counter(), time.process_time() + children_cpu()
            outcome = run_batch(IMPORTRESULTS, session=session, config=config)
            run_seconds = time.perf_counter() - started
            # the batch's reader processes count too: they are joined when the run ends
            run_cpu = time.process_time() + children_cpu() - started_cpu
            db.engine.dispose()
        seconds, cpu = parse_only(texts[count // 2 :])
        parse_seconds, parse_cpu = parse_seconds + seconds, parse_cpu + cpu
        inbox = config.path_of("LabInboxDirectory")
        processed = len(list((inbox / "processed").iterdir()))
        if outcome.status != "succeeded" or outcome.succeeded != count or processed != count:
            raise SystemExit(f"the import did not import everything: {outcome}")
    return {
        "parse_rate": count / parse_seconds,
        "end_to_end_rate": count / run_seconds,
        "parse_seconds": parse_seconds,
        "run_seconds": run_seconds,
        "cpu_ratio": parse_cpu / run_cpu,
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_only(texts: list[str]) -> tuple[float, float]:
    """Seconds (wall clock, CPU) that ``hl7.parse`` takes for ``texts``."""
    started, started_cpu = time.perf_counter(), time.process_time()
    for body in texts:
        hl7.parse(body)
    return time.perf_counter() - started, time.process_time() - started_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--database", help="a scratch PostgreSQL URL (default: SQLite)")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ep-bench-db-") as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        figures = measure(url, args.messages)
    ratio = figures["end_to_end_rate"] / figures["parse_rate"]
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    verdict = "meets" if ratio >= 0.6 else "MISSES"
    line = (
        f"| {date.today()} | {kind} | {args.messages:,} | {figures['parse_rate']:,.0f}/s "
        f"| {figures['end_to_end_rate']:,.0f}/s ({figures['run_seconds']:.1f} s) "
        f"| {ratio:.0%} ({verdict} ≥ 60 %) | {figures['cpu_ratio']:.0%} | {load} |"
    )
    print(line)
    if args.record:
        record(line)


HEADING = "## IMPORTRESULTS (bench/import_results.py)"
TABLE_HEAD = (
    "| date | database | messages (5 OBX) | hl7 parse-only | end-to-end IMPORTRESULTS "
    "| end-to-end / parse-only | same, CPU time | load average (1/5/15 min) |\n"
    "|---|---|---|---|---|---|---|---|"
)


def record(line: str) -> None:
    """Append the figures under this benchmark's own heading in bench/RESULTS.md."""
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    machine = (
        f"{os.cpu_count()} cores, {memory_kb / 1024**2:.0f} GB RAM, {platform.machine()}, "
        f"Python {platform.python_version()}; shared with other work, see the load column"
    )
    if HEADING not in text:
        text = text.rstrip("\n") + (
            f"\n\n{HEADING}\n\n"
            "20,000 HL7 ORU^R01 files (1 OBR, 5 OBX each) in the inbox; both rates from the "
            "same run. Goal: end-to-end at least 60 % of the `hl7` parse-only rate.\n"
            f"Machine: {machine}.\n\n{TABLE_HEAD}\n"
        )
    start = text.index(HEADING)
    following = text.find("\n## ", start + len(HEADING))
    end = len(text) if following == -1 else following
    section = text[start:end].rstrip("\n") + "\n" + line + "\n"
    text = text[:start] + section + ("\n" + text[end:].lstrip("\n") if following != -1 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
