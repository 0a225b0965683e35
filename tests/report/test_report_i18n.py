"""The message catalogues and the language's number/date/duration formats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from soc.i18n import (
    LANGUAGES,
    Duration,
    Percent,
    UnknownLanguage,
    catalogue,
    format_date,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    normalize_lang,
    placeholders,
    t,
)


def _base(key: str) -> str:
    return key.split("#", 1)[0]


def test_every_language_has_the_same_keys_and_fields() -> None:
    """A key missing from one language, or a template naming other fields, is a bug a
    reader would see as a raw key or a crash."""
    by_lang = {lang: catalogue(lang) for lang in LANGUAGES}
    keys = {lang: {_base(k) for k in msgs} for lang, msgs in by_lang.items()}
    assert keys["vi"] == keys["en"]
    for key in keys["vi"]:
        fields = {}
        for lang, msgs in by_lang.items():
            forms = [v for k, v in msgs.items() if _base(k) == key]
            fields[lang] = set().union(*(placeholders(f) for f in forms)) - {"count"}
        assert fields["vi"] == fields["en"], key


def test_vietnamese_text_keeps_its_diacritics() -> None:
    assert t("report.period.title", "vi") == "Báo cáo tình hình an toàn thông tin"
    assert "Hồ Chí Minh" in t("report.org", "vi")


@pytest.mark.parametrize(
    ("value", "vi", "en"),
    [(1234, "1.234", "1,234"), (1234567, "1.234.567", "1,234,567"), (0, "0", "0")],
)
def test_numbers_use_the_language_separators(value: int, vi: str, en: str) -> None:
    assert format_number(value, "vi") == vi
    assert format_number(value, "en") == en


def test_decimals_and_percentages() -> None:
    assert format_number(1234.5, "vi", 1) == "1.234,5"
    assert format_number(1234.5, "en", 1) == "1,234.5"
    assert format_percent(0.125, "vi") == "12,5%"
    assert format_percent(0.125, "en") == "12.5%"


def test_dates_per_language() -> None:
    day = date(2026, 11, 21)
    assert format_date(day, "vi") == "21/11/2026"
    assert format_date(day, "en") == "21 Nov 2026"
    moment = datetime(2026, 11, 20, 17, 5, tzinfo=UTC)
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    assert format_datetime(moment, "vi", zone) == "21/11/2026 00:05"
    assert format_datetime(moment, "en", zone) == "21 Nov 2026 00:05"


def test_durations_and_plurals() -> None:
    assert format_duration(7500, "vi") == "2 giờ 5 phút"
    assert format_duration(7500, "en") == "2 h 5 min"
    assert format_duration(60, "en") == "1 min"
    assert format_duration(2 * 86400 + 3600, "vi") == "2 ngày 1 giờ"
    assert format_duration(86400, "en") == "1 day"
    assert t("summary.open_cases", "en", count=1) == "1 high or critical incident is still open."
    assert t("summary.open_cases", "en", count=3) == "3 high or critical incidents are still open."


def test_values_are_formatted_inside_messages() -> None:
    text = t("summary.resolution", "vi", count=1200, tp=Percent(0.5), fp=Percent(0.25))
    assert (
        text
        == "Trong 1.200 cảnh báo đã được chuyên viên kết luận, 50,0% là tấn công thật và 25,0% "
        "là báo động nhầm."
    )
    assert "1 h 2 min" in t("summary.mttd", "en", duration=Duration(3725), count=4)


def test_language_codes() -> None:
    assert normalize_lang("VI") == "vi"
    assert normalize_lang("en-GB") == "en"
    assert normalize_lang(None) == "vi"
    with pytest.raises(UnknownLanguage, match=r"'fr'.*vi, en"):
        normalize_lang("fr")
