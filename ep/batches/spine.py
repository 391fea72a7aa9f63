"""Every batch EP has, defined once: name, command, warning threshold, schedule and help.

The configuration defaults (<NAME>WarnAfterMinutesInactivity), the runner's commands, the
health check and `ep batch schedule` (and the files in deploy/ it renders) all read this
table; a batch module adds only its steps. Nothing here imports the rest of EP, so
ep.config can read it.
"""

from dataclasses import dataclass

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Schedule:
    """When a batch runs: every N minutes (from minute ``offset`` of the hour), or daily
    or weekly at a local time."""

    every_minutes: int | None = None
    offset: int = 0  # minutes past each N-minute mark (NOTIFYRESULTS waits for the import)
    at: str | None = None  # "07:00", the server's local time
    weekday: str | None = None  # "SUN" for a weekly run

    @property
    def words(self) -> str:
        if self.every_minutes:
            after = f", {self.offset} minutes after the import" if self.offset else ""
            return f"every {self.every_minutes} minutes{after}"
        if self.weekday:
            return f"weekly, {DAY_NAMES[WEEKDAYS.index(self.weekday)]} at {self.at}"
        return f"daily at {self.at}"


@dataclass(frozen=True)
class BatchSpec:
    name: str  # NOTIFYREMINDERS: configuration keys and the operator pages
    command: str  # notify-reminders: `ep batch notify-reminders`
    warn_after_minutes: int  # the default <NAME>WarnAfterMinutesInactivity
    schedule: Schedule
    help: str  # the first line is the --help summary
    module: str  # where its steps are (the module registers the Batch)

    @property
    def shell_command(self) -> str:
        return f"ep batch {self.command}"


SPINE: tuple[BatchSpec, ...] = (
    BatchSpec(
        "NOTIFYREMINDERS",
        "notify-reminders",
        1500,
        # once a day, in the morning, as the operations manual describes it
        Schedule(at="07:00"),
        "Remind residents of what is pending, then send every notification due.\n\n"
        "Offers not ordered, orders about to expire unsampled, home kits not registered "
        "and recurring offers due again, by each package's reminder rules. Run it again "
        "after a failure: it takes over where the last run stopped.",
        "ep.batches.notify_reminders",
    ),
    BatchSpec(
        "IMPORTRESULTS",
        "import-results",
        30,
        Schedule(every_minutes=5),
        "Import lab result files (HL7 v2 ORU^R01, FHIR R4 JSON) from the lab inbox.",
        "ep.batches.import_results",
    ),
    BatchSpec(
        "NOTIFYRESULTS",
        "notify-results",
        30,
        Schedule(every_minutes=5, offset=2),
        "Release results by each package's policy and tell the residents.\n\n"
        "immediate, delay:<hours>, or contact-positive (a positive STI result waits on "
        "the staff worklist; negatives are released). Then every notification due is sent.",
        "ep.batches.notify_results",
    ),
    BatchSpec(
        "EXPIREORDERS",
        "expire-orders",
        1500,
        Schedule(at="01:30"),
        "Close unsampled orders past their expiry date and offers past their end date.",
        "ep.batches.expire_orders",
    ),
    BatchSpec(
        "PURGE",
        "purge",
        10200,
        Schedule(at="03:00", weekday="SUN"),
        "Delete what has outlived its retention period (gallring).\n\n"
        "Closed orders with their results, sent notifications, processed lab messages, "
        "batch history and audit events, by the Retain*Days keys in ep.ini. Open orders "
        "are never deleted; audit events are kept at least five years.",
        "ep.batches.purge",
    ),
    BatchSpec(
        "BACKUP",
        "backup",
        1500,
        # after EXPIREORDERS, so the night's copy holds what it closed
        Schedule(at="02:00"),
        "Back up the database while EP runs, then keep the newest BackupRetainCount backups.\n\n"
        "SQLite is copied with VACUUM INTO, PostgreSQL dumped with pg_dump (custom format) in "
        "one snapshot; beside the copy, manifest.json records the EP version, schema "
        "revision, rows per table and the SHA-256 checksum. Written to BackupDirectory in "
        "ep.ini; restore with `ep db restore PATH`.",
        "ep.batches.backup",
    ),
)
BATCHES = tuple(spec.name for spec in SPINE)
_BY_NAME = {spec.name: spec for spec in SPINE}


def spec_of(name: str) -> BatchSpec:
    """The spine entry of batch ``name`` (NOTIFYREMINDERS); KeyError if EP has none."""
    return _BY_NAME[name]


def find_spec(text: str) -> BatchSpec | None:
    """The batch ``text`` names, by its name (any case) or its command; None if none."""
    for spec in SPINE:
        if text.upper() == spec.name or text == spec.command:
            return spec
    return None
