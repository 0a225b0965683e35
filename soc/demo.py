"""The demo: the whole daily job on the bundled sample, in the embedded store.

Ingest the sample city logs, run the rule pack over them, triage the top alert unattended and
write a period report for the leadership. Each step is the same code the real commands run;
the demo only chooses the inputs. Running it twice stores nothing new (deterministic ids) and
raises no alert twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from collectors.ship import DeadLetterFile, Shipper, ShipStats
from collectors.sources.logs import IngestOptions, LogIngestor
from soc import clock, ecs
from soc.config import Settings
from soc.detect.runner import DetectionSummary, run_detection
from soc.resources import demo_data_dir
from soc.store.base import Store
from soc.store.local import LocalStore

FINANCE = "Sở Tài chính"
DIC = "Sở Thông tin và Truyền thông"
HEALTH = "Sở Y tế"


@dataclass(frozen=True)
class DemoSource:
    """One bundled sample file and the city department and host it belongs to."""

    file: str
    department: str
    host: str | None = None


#: The sample files, in the order they are ingested.
DEMO_SOURCES: tuple[DemoSource, ...] = (
    DemoSource("tc-app01-auth.log", FINANCE),
    DemoSource("dvc-portal-access.log", DIC, host="dvc-portal"),
    DemoSource("fortigate.log", DIC),
    DemoSource("bind-queries.log", HEALTH, host="dns-resolver-01"),
)

#: Answers of the unattended triage, per playbook (question id -> answer); questions not
#: listed take their playbook's default.
DEMO_ANSWERS: dict[str, dict[str, str]] = {
    "ssh-bruteforce": {"known_source": "no"},
    "generic": {"assessment": "true_positive"},
}

DEMO_ANALYST = "demo"


@dataclass
class DemoResult:
    """What the demo did, step by step."""

    store_path: Path
    ingest: ShipStats
    detection: DetectionSummary
    alerts: list[dict[str, Any]] = field(default_factory=list)
    triaged_alert: dict[str, Any] | None = None
    triage: Any = None  # soc.triage.TriageResult, or None when the top alert was done before
    report: Path | None = None
    report_first_day: date | None = None  # the report's period (calendar days, city zone)
    report_last_day: date | None = None


def open_demo_store(settings: Settings) -> LocalStore:
    """The embedded store in the data directory (the demo never uses a cluster)."""
    return LocalStore(settings.data_dir / "soc.db")


def ingest_sample(store: Store, settings: Settings) -> ShipStats:
    """Ingest every bundled sample file with its department; returns the shipping counters."""
    shipper = Shipper(store, dead_letters=DeadLetterFile.in_data_dir(settings.data_dir))
    zone = ZoneInfo(settings["timezone"])
    sample = demo_data_dir()
    try:
        for source in DEMO_SOURCES:
            options = IngestOptions(
                department=source.department,
                host_name=source.host,
                timezone=zone,
                keep_original=bool(settings["keep_original"]),
            )
            LogIngestor(shipper, options).ingest_file(sample / source.file)
    finally:
        shipper.close()
    store.refresh()
    return shipper.stats


def sample_window(store: Store) -> tuple[datetime, datetime]:
    """From the first to just after the last stored event (the whole sample)."""
    first = store.search(size=1).hits
    last = store.search(size=1, ascending=False).hits
    if not first or not last:
        now = clock.now()
        return now - timedelta(days=1), now
    start = ecs.parse_timestamp(first[0].source["@timestamp"])
    end = ecs.parse_timestamp(last[0].source["@timestamp"]) + timedelta(seconds=1)
    return start, end


def run_demo(settings: Settings, store: Store, *, report_format: str = "html") -> DemoResult:
    """Run the daily job on the sample and return what each step produced."""
    from soc.report import write_period_report
    from soc.triage import demo_enricher, top_alert, triage_unattended
    from soc.triage.runner import default_library, pick_playbook

    stats = ingest_sample(store, settings)
    start, end = sample_window(store)
    detection = run_detection(store, since=start, until=end)
    store.refresh()
    alerts = store.list_records("alerts", order_by="first_seen")
    result = DemoResult(
        store_path=settings.data_dir / "soc.db", ingest=stats, detection=detection, alerts=alerts
    )

    top = top_alert(store, status=None)
    if top is not None:
        result.triaged_alert = top
        if top.get("status") == "new":
            playbook = pick_playbook(default_library(), top, None)
            result.triage = triage_unattended(
                store,
                top["id"],
                DEMO_ANSWERS.get(playbook.name, {}),
                settings.get("analyst") or DEMO_ANALYST,
                enricher=demo_enricher(),
            )
            store.refresh()

    # The report runs from the sample's first day to today, so that the case the triage just
    # opened counts among the period's incidents.
    zone = ZoneInfo(settings["timezone"])
    first_day: date = start.astimezone(zone).date()
    last_day: date = max(end.astimezone(zone).date(), clock.today(zone))
    lang = settings.get("language", "vi")
    out = settings.data_dir / "reports" / f"demo-report-{lang}.{report_format}"
    out.parent.mkdir(parents=True, exist_ok=True)
    result.report_first_day, result.report_last_day = first_day, last_day
    result.report = write_period_report(
        store, first_day, last_day, lang, report_format, out, timezone=settings["timezone"]
    )
    return result
