"""Ready-to-paste scheduler entries: crontab, systemd timers, Windows Task Scheduler.

`ep batch schedule --format …` prints them with this installation's real paths; the
files in deploy/ are the same rendering with example paths (a test keeps them in step).
Each batch runs well inside its <NAME>WarnAfterMinutesInactivity default, so a missed run
or two turns the health check red, not a normal day.
"""

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from ep.batches.spine import DAY_NAMES, SPINE, WEEKDAYS, BatchSpec, Schedule
from ep.unit_hardening import SYSTEMD_HARDENING

EXIT_CODES = "Exit 1 = failed, 75 = another run holds the lock."


@dataclass(frozen=True)
class Install:
    """Where this installation's pieces are, as the scheduler entries name them."""

    ep: str  # the `ep` executable
    config: str  # ep.ini
    user: str  # the service account
    log: str  # the batches' log file (cron and Task Scheduler; systemd has the journal)


@dataclass(frozen=True)
class When:
    """One batch's schedule, said in each scheduler's own syntax."""

    cron: str  # crontab time fields
    on_calendar: str  # systemd OnCalendar=
    schtasks: tuple[str, ...]  # schtasks.exe /Create trigger arguments
    trigger_xml: str  # Task Scheduler XML <Triggers> content
    what: str  # in words, for the comments


def _repeating_xml(every: int, offset: int) -> str:
    return f"""<TimeTrigger>
      <Repetition>
        <Interval>PT{every}M</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <StartBoundary>2026-01-01T00:{offset:02d}:00</StartBoundary>
      <Enabled>true</Enabled>
    </TimeTrigger>"""


def _daily_xml(time: str) -> str:
    return f"""<CalendarTrigger>
      <StartBoundary>2026-01-01T{time}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>"""


def _weekly_xml(day: str, time: str) -> str:
    # 2026-01-05 is a Monday: the first boundary falls on the wanted day
    first = 5 + WEEKDAYS.index(day)
    name = DAY_NAMES[WEEKDAYS.index(day)]
    return f"""<CalendarTrigger>
      <StartBoundary>2026-01-{first:02d}T{time}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByWeek>
        <DaysOfWeek>
          <{name} />
        </DaysOfWeek>
        <WeeksInterval>1</WeeksInterval>
      </ScheduleByWeek>
    </CalendarTrigger>"""


def when(schedule: Schedule) -> When:
    """The spine's schedule in cron, systemd and Task Scheduler terms."""
    if schedule.every_minutes:
        every, offset = schedule.every_minutes, schedule.offset
        return When(
            f"{offset}-59/{every} * * * *" if offset else f"*/{every} * * * *",
            f"*:{offset}/{every}",
            ("/SC", "MINUTE", "/MO", str(every), "/ST", f"00:{offset:02d}"),
            _repeating_xml(every, offset),
            schedule.words,
        )
    at = schedule.at
    assert at is not None  # a schedule is every N minutes or at a time of day
    hour, minute = (int(part) for part in at.split(":"))
    if schedule.weekday:
        day = schedule.weekday
        return When(
            f"{minute} {hour} * * {(WEEKDAYS.index(day) + 1) % 7}",
            f"{day.title()} *-*-* {at}:00",
            ("/SC", "WEEKLY", "/D", day, "/ST", at),
            _weekly_xml(day, at),
            schedule.words,
        )
    return When(
        f"{minute} {hour} * * *",
        f"*-*-* {at}:00",
        ("/SC", "DAILY", "/ST", at),
        _daily_xml(at),
        schedule.words,
    )


@dataclass(frozen=True)
class Entry:
    name: str  # NOTIFYREMINDERS
    command: str  # notify-reminders
    when: When

    @classmethod
    def of(cls, spec: BatchSpec) -> "Entry":
        return cls(spec.name, spec.command, when(spec.schedule))


def entries() -> list[Entry]:
    """The scheduler entry of every batch EP has."""
    return [Entry.of(spec) for spec in SPINE]


def render_cron(items: list[Entry], install: Install) -> str:
    """A crontab for the service account (install with `crontab -u USER file`)."""
    lines = [
        f"# EP batches, crontab of {install.user} (crontab -u {install.user} this-file).",
        "# Times are the server's local time. A run logs to the --log-file; cron mails only",
        "# a failure's one line: exit 1 = failed (the health check turns red),",
        "# 75 = a live run holds the lock.",
        f"EP_CONFIG={install.config}",
        "",
    ]
    for item in items:
        lines.append(f"# {item.name}: {item.when.what}")
        lines.append(f"{item.when.cron} {install.ep} batch {item.command} --log-file {install.log}")
    return "\n".join(lines) + "\n"


def unit_name(item: Entry) -> str:
    return f"ep-{item.command}"


def render_systemd_service(item: Entry, install: Install) -> str:
    # the hardening every EP unit ends with (ep.unit_hardening), so the checked-in units in
    # deploy/systemd and `ep batch schedule --format systemd` agree
    return f"""[Unit]
Description=EP batch {item.name}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
User={install.user}
Environment=EP_CONFIG={install.config}
ExecStart={install.ep} batch {item.command}
# 75: another live run holds the lock (say, on another host); not this unit's failure
SuccessExitStatus=75
{SYSTEMD_HARDENING}"""


def render_systemd_timer(item: Entry) -> str:
    return f"""[Unit]
Description=Start EP batch {item.name} {item.when.what}

[Timer]
OnCalendar={item.when.on_calendar}
Persistent=true
Unit={unit_name(item)}.service

[Install]
WantedBy=timers.target
"""


def systemd_units(items: list[Entry], install: Install) -> dict[str, str]:
    """Each unit file's name and text: a service and a timer per batch."""
    units = {}
    for item in items:
        units[f"{unit_name(item)}.service"] = render_systemd_service(item, install)
        units[f"{unit_name(item)}.timer"] = render_systemd_timer(item)
    return units


def enable_command(items: list[Entry]) -> str:
    names = " ".join(f"{unit_name(item)}.timer" for item in items)
    return f"systemctl daemon-reload && systemctl enable --now {names}"


def render_systemd(items: list[Entry], install: Install) -> str:
    """Service and timer units, each headed by the file it belongs in."""
    parts = []
    for name, text in systemd_units(items, install).items():
        parts.append(f"# /etc/systemd/system/{name}")
        parts.append(text)
    parts.append(f"# then: {enable_command(items)}")
    return "\n".join(parts) + "\n"


def write_systemd(items: list[Entry], install: Install, folder: Path) -> list[Path]:
    """Write the unit files into ``folder`` (made if missing); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in systemd_units(items, install).items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def task_name(item: Entry) -> str:
    return f"\\EP\\{item.name}"


def render_schtasks(items: list[Entry], install: Install) -> str:
    """schtasks.exe commands (cmd.exe, as an administrator); /RU asks for the password."""
    lines = [
        "REM EP batches for Windows Task Scheduler. Paste into cmd.exe run as administrator.",
        "REM The tasks find ep.ini through EP_CONFIG, set here for the whole machine;",
        "REM to set it per task instead, import the XML files from deploy\\windows.",
        f'setx /M EP_CONFIG "{install.config}"',
    ]
    for item in items:
        trigger = " ".join(item.when.schtasks)
        lines.append(f"REM {item.name}: {item.when.what}. {EXIT_CODES}")
        lines.append(
            f'schtasks /Create /F /TN "{task_name(item)}" /RU "{install.user}" {trigger} '
            f'/TR "\\"{install.ep}\\" batch {item.command} --log-file \\"{install.log}\\""'
        )
    return "\r\n".join(lines) + "\r\n"


def render_task_xml(item: Entry, install: Install) -> str:
    """A Task Scheduler task definition (import with schtasks /Create /XML file /TN name)."""
    arguments = escape(
        f'/c "set EP_CONFIG={install.config}&& "{install.ep}" batch {item.command} '
        f'--log-file "{install.log}""'
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>EP batch {item.name}, {escape(item.when.what)}. {EXIT_CODES}</Description>
    <URI>{escape(task_name(item))}</URI>
  </RegistrationInfo>
  <Triggers>
    {item.when.trigger_xml}
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{escape(install.user)}</UserId>
      <LogonType>Password</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>cmd.exe</Command>
      <Arguments>{arguments}</Arguments>
    </Exec>
  </Actions>
</Task>
"""


RENDERERS = {"cron": render_cron, "systemd": render_systemd, "schtasks": render_schtasks}
# the example installations the files in deploy/ are rendered for
EXAMPLE_LINUX = Install(
    ep="/opt/ep/venv/bin/ep", config="/etc/ep/ep.ini", user="ep", log="/var/log/ep/batches.log"
)
EXAMPLE_WINDOWS = Install(
    ep=r"C:\EP\venv\Scripts\ep.exe",
    config=r"C:\EP\instance\ep.ini",
    user=r"REGION\svc-ep",
    log=r"C:\EP\instance\log\batches.log",
)
