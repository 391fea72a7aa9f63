"""The report as health+json (IETF draft), Prometheus text and a Nagios status line.

The Nagios line and the metrics are read by machines and stay English (ep.texts); the JSON
is also the detail page's other form, so it speaks the language it is asked in.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ep.healthcheck.checks import FAIL, PASS, WARN, Report
from ep.texts import english, msg

NAGIOS_EXIT = {PASS: 0, WARN: 1, FAIL: 2}
NAGIOS_WORD = {PASS: "OK", WARN: "WARNING", FAIL: "CRITICAL"}
_PROMETHEUS_VALUE = {PASS: 0, WARN: 1, FAIL: 2}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def health_json(
    report: Report, *, now: datetime, say: Callable[[object], str] = english
) -> dict[str, Any]:
    """application/health+json (IETF draft-inadarei-api-health-check), checks by key; the
    messages and thresholds as ``say`` words them."""
    checks: dict[str, list[dict[str, Any]]] = {}
    for check in report.checks:
        entry: dict[str, Any] = {
            "componentId": check.component,
            "componentType": check.component_type,
            "status": check.status,
            "time": _iso(check.last_activity) or _iso(now),
        }
        if check.status != PASS:  # the draft: no output for a passing check
            entry["output"] = say(check.text)
        if check.observed_value is not None:
            entry["observedValue"] = check.observed_value
            entry["observedUnit"] = check.observed_unit
        if check.threshold:
            entry["threshold"] = say(check.threshold)
        if check.command:
            entry["command"] = check.command
        checks.setdefault(check.key, []).append(entry)
    body = {
        "status": report.status,
        "version": "1",
        "serviceId": "ep",
        "description": say(msg("Hälsokontroll för EP (Egen provhantering)")),
        "checks": checks,
    }
    problems = report.failing()
    if problems:
        body["output"] = " ".join(f"{c.key}: {say(c.text)}" for c in problems)
    return body


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def prometheus(report: Report) -> str:
    """Prometheus text exposition: a gauge per check and each batch's last success time."""
    lines = [
        "# HELP ep_health_ok 1 when HealthCheckStatus says OK, 0 when it says ERROR.",
        "# TYPE ep_health_ok gauge",
        f"ep_health_ok {1 if report.ok else 0}",
        "# HELP ep_check_status Each check: 0 pass, 1 warn, 2 fail.",
        "# TYPE ep_check_status gauge",
    ]
    for check in report.checks:
        lines.append(
            f'ep_check_status{{component="{_label(check.component)}",'
            f'measurement="{_label(check.measurement)}"}} {_PROMETHEUS_VALUE[check.status]}'
        )
    batches = [c for c in report.checks if c.is_batch]
    for metric, attribute, help_text in (
        ("ep_batch_last_success_timestamp_seconds", "last_success", "last successful run"),
        ("ep_batch_last_activity_timestamp_seconds", "last_activity", "last heartbeat"),
    ):
        lines += [
            f"# HELP {metric} Unix time of the batch's {help_text}.",
            f"# TYPE {metric} gauge",
        ]
        for check in batches:
            value = getattr(check, attribute)
            if value is not None:
                lines.append(
                    f'{metric}{{batch="{_label(check.component)}"}} {value.timestamp():.0f}'
                )
    return "\n".join(lines) + "\n"


def _perf_label(key: str) -> str:
    return key.replace(":", "_").replace("'", "").replace("=", "_")


def nagios(report: Report) -> tuple[str, int]:
    """One status line with perfdata, and the plugin exit code (0 OK, 1 WARNING, 2 CRITICAL)."""
    problems = report.failing()
    if problems:
        summary = "; ".join(f"{c.component}: {c.message}" for c in problems)
    else:
        summary = f"all {len(report.checks)} checks pass"
    perfdata = []
    for check in report.checks:
        if check.observed_value is None:
            continue
        unit = {"ms": "ms"}.get(check.observed_unit or "", "")
        warn = ""
        if check.is_batch and check.threshold:
            warn = english(check.threshold).split()[0]
        perfdata.append(f"'{_perf_label(check.key)}'={check.observed_value}{unit};{warn};{warn}")
    line = f"EP {NAGIOS_WORD[report.status]} - {summary}"
    if perfdata:
        line += " | " + " ".join(perfdata)
    return line, NAGIOS_EXIT[report.status]
