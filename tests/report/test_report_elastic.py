"""The same report data from the Elasticsearch store (a real osmem-server) as from the local
store: reports use the Store protocol only."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from report_fixtures import populate

from soc.report import write_period_report
from soc.report.case_data import gather_case
from soc.report.data import day_bounds, gather_period
from soc.store.local import LocalStore

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def both(es_url: str, tmp_path: Path) -> Iterator[tuple[LocalStore, object]]:
    from soc.store.elastic import ElasticStore

    local = LocalStore(tmp_path / "soc.db")
    elastic = ElasticStore(es_url)
    try:
        populate(local)
        populate(elastic)
        elastic.refresh()
        yield local, elastic
    finally:
        local.close()
        elastic.close()


def _comparable(report: object) -> dict:
    data = dataclasses.asdict(report)
    data.pop("store_kind")
    return data


@pytest.mark.parametrize(
    "days", [(date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 11, 18), date(2026, 11, 18))]
)
def test_period_data_is_the_same_on_both_stores(both, days) -> None:
    local, elastic = both
    bounds = day_bounds(*days, HCM)
    from_local = gather_period(local, *bounds, tz=HCM, now=NOW)
    from_elastic = gather_period(elastic, *bounds, tz=HCM, now=NOW)
    assert from_elastic.events_total > 0 and from_elastic.alerts_total > 0
    assert _comparable(from_elastic) == _comparable(from_local)


def test_case_data_is_the_same_on_both_stores(both) -> None:
    local, elastic = both
    from_local = gather_case(local, "CASE-20261118-0001", tz=HCM, now=NOW)
    from_elastic = gather_case(elastic, "CASE-20261118-0001", tz=HCM, now=NOW)
    assert _comparable(from_elastic) == _comparable(from_local)


def test_markdown_report_from_elasticsearch(both, tmp_path: Path) -> None:
    _, elastic = both
    out = write_period_report(
        elastic, date(2026, 11, 1), date(2026, 11, 30), "vi", "md", tmp_path / "es.md"
    )
    assert "1.166 sự kiện" in out.read_text(encoding="utf-8")
    assert "kho dữ liệu elasticsearch" in out.read_text(encoding="utf-8")


def test_department_filter_is_the_same_on_both_stores(both) -> None:
    local, elastic = both
    bounds = day_bounds(date(2026, 11, 1), date(2026, 11, 30), HCM)
    dept = "Sở Thông tin và Truyền thông"
    from_local = gather_period(local, *bounds, tz=HCM, department=dept, now=NOW)
    from_elastic = gather_period(elastic, *bounds, tz=HCM, department=dept, now=NOW)
    assert from_local.events_total == 1075
    assert _comparable(from_elastic) == _comparable(from_local)
