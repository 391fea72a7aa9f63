"""Ready-to-paste scheduler entries: crontab, systemd timers, Windows Task Scheduler.

`ep batch schedule --format …` prints them with this installation's real paths; the
files in deploy/ are the same rendering with example paths (a test keeps them in step).
Each batch runs well inside its <NAME>WarnAfterMinutesInactivity default, so a missed run
or two turns the health check red, not a normal day.
"""

from dataclasses import dataclass
from xml.sax.saxutils import escape

from ep.batches import COMMANDS

EXIT_CODES = "Exit 1 = failed, 75 = another run holds the lock."


@dataclass(frozen=True)
class When:
    """One batch's schedule, said three ways (the schedulers' own syntax)."""

    cron: str  # crontab time fields
    on_calendar: str  # systemd OnCalendar=
    schtasks: tuple[str, ...]  # schtasks.exe /Create trigger arguments
    trigger_xml: str  # Task Scheduler XML <Triggers> content
    what: str  # in words, for the comments


EVERY_5_MINUTES_XML = """<TimeTrigger>
      <Repetition>
        <Interval>PT5M</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
      <StartBoundary>2026-01-01T00:00:00</StartBoundary>
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


SCHEDULES = {
    # once a day, in the morning, as the operations manual describes it
    "NOTIFYREMINDERS": When(
        "0 7 * * *",
        "*-*-* 07:00:00",
        ("/SC", "DAILY", "/ST", "07:00"),
        _daily_xml("07:00"),
        "daily at 07:00",
    ),
    "IMPORTRESULTS": When(
        "*/5 * * * *",
        "*:0/5",
        ("/SC", "MINUTE", "/MO", "5"),
        EVERY_5_MINUTES_XML,
        "every 5 minutes",
    ),
    "NOTIFYRESULTS": When(
        "2-59/5 * * * *",
        "*:2/5",
        ("/SC", "MINUTE", "/MO", "5"),
        EVERY_5_MINUTES_XML,
        "every 5 minutes, 2 minutes after the import",
    ),
    "EXPIREORDERS": When(
        "30 1 * * *",
        "*-*-* 01:30:00",
        ("/SC", "DAILY", "/ST", "01:30"),
        _daily_xml("01:30"),
        "daily at 01:30",
    ),
    "PURGE": When(
        "0 3 * * 0",
        "Sun *-*-* 03:00:00",
        ("/SC", "WEEKLY", "/D", "SUN", "/ST", "03:00"),
        """<CalendarTrigger>
      <StartBoundary>2026-01-04T03:00:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByWeek>
        <DaysOfWeek>
          <Sunday />
        </DaysOfWeek>
        <WeeksInterval>1</WeeksInterval>
      </ScheduleByWeek>
    </CalendarTrigger>""",
        "weekly, Sunday at 03:00",
    ),
}


@dataclass(frozen=True)
class Entry:
    name: str  # NOTIFYREMINDERS
    command: str  # notify-reminders
    when: When


def entries() -> list[Entry]:
    """The scheduler entry of every batch EP has."""
    return [Entry(name, command, SCHEDULES[name]) for name, command in COMMANDS.items()]


def render_cron(items: list[Entry], *, ep: str, config: str, user: str) -> str:
    """A crontab for the service account (install with `crontab -u USER file`)."""
    lines = [
        f"# EP batches, crontab of {user} (crontab -u {user} this-file).",
        "# Times are the server's local time. Each run logs to stderr, which cron mails;",
        "# exit 1 = failed (the health check turns red), 75 = a live run holds the lock.",
        f"EP_CONFIG={config}",
        "",
    ]
    for item in items:
        lines.append(f"# {item.name}: {item.when.what}")
        lines.append(f"{item.when.cron} {ep} batch {item.command}")
    return "\n".join(lines) + "\n"


def unit_name(item: Entry) -> str:
    return f"ep-{item.command}"


def render_systemd_service(item: Entry, *, ep: str, config: str, user: str) -> str:
    return f"""[Unit]
Description=EP batch {item.name}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
User={user}
Environment=EP_CONFIG={config}
ExecStart={ep} batch {item.command}
# 75: another live run holds the lock (say, on another host); not this unit's failure
SuccessExitStatus=75
"""


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


def render_systemd(items: list[Entry], *, ep: str, config: str, user: str) -> str:
    """Service and timer units, each headed by the file it belongs in."""
    parts = []
    for item in items:
        name = unit_name(item)
        parts.append(f"# /etc/systemd/system/{name}.service")
        parts.append(render_systemd_service(item, ep=ep, config=config, user=user))
        parts.append(f"# /etc/systemd/system/{name}.timer")
        parts.append(render_systemd_timer(item))
    names = " ".join(f"{unit_name(item)}.timer" for item in items)
    parts.append(f"# then: systemctl daemon-reload && systemctl enable --now {names}")
    return "\n".join(parts) + "\n"


def task_name(item: Entry) -> str:
    return f"\\EP\\{item.name}"


def render_schtasks(items: list[Entry], *, ep: str, config: str, user: str) -> str:
    """schtasks.exe commands (cmd.exe, as an administrator); /RU asks for the password."""
    lines = [
        "REM EP batches for Windows Task Scheduler. Paste into cmd.exe run as administrator.",
        "REM The tasks find ep.ini through EP_CONFIG, set here for the whole machine;",
        "REM to set it per task instead, import the XML files from deploy\\windows.",
        f'setx /M EP_CONFIG "{config}"',
    ]
    for item in items:
        trigger = " ".join(item.when.schtasks)
        lines.append(f"REM {item.name}: {item.when.what}. {EXIT_CODES}")
        lines.append(
            f'schtasks /Create /F /TN "{task_name(item)}" /RU "{user}" {trigger} '
            f'/TR "\\"{ep}\\" batch {item.command}"'
        )
    return "\r\n".join(lines) + "\r\n"


def render_task_xml(item: Entry, *, ep: str, config: str, user: str) -> str:
    """A Task Scheduler task definition (import with schtasks /Create /XML file /TN name)."""
    arguments = escape(f'/c "set EP_CONFIG={config}&& "{ep}" batch {item.command}"')
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
      <UserId>{escape(user)}</UserId>
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
