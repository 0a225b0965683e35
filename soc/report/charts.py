"""Report charts drawn with matplotlib (Agg backend) as PNG bytes.

Labels come from the message catalogue; text from logs (rule names, technique ids) is drawn
as plain text (``usetex`` off, mathtext disabled per label), never interpreted. The font is
DejaVu Sans, which matplotlib ships and which covers Vietnamese diacritics.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from soc.i18n import format_day, format_number, t
from soc.report.alerts import LEVELS
from soc.report.attack import AttackCell
from soc.report.data import DayPoint, HourPoint

#: Colours of alert levels, least to most severe.
LEVEL_COLOURS = {
    "informational": "#8fa3b8",
    "low": "#4c9f70",
    "medium": "#e0a526",
    "high": "#e0662b",
    "critical": "#b3202a",
}
_BLUE = "#1f5f99"
_DPI = 130


def _style() -> None:
    plt.rcParams.update(
        {
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "text.usetex": False,
            "svg.fonttype": "none",
        }
    )


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _plain(text: str) -> str:
    """Text shown literally by matplotlib (no mathtext between dollar signs)."""
    return text.replace("$", r"\$")


def daily_chart(days: Sequence[DayPoint], lang: str) -> bytes:
    """Events per day (top) and alerts per day (bottom), as a PNG."""
    return _trend_chart(
        [format_day(d.day, lang) for d in days],
        [d.events for d in days],
        [d.alerts for d in days],
        (t("chart.events_per_day", lang), t("chart.alerts_per_day", lang)),
        lang,
    )


def hourly_chart(hours: Sequence[HourPoint], lang: str) -> bytes:
    """Events per hour (top) and alerts per hour (bottom), as a PNG."""
    several_days = len({h.hour.date() for h in hours}) > 1
    labels = [
        (f"{format_day(h.hour, lang)} " if several_days and h.hour.hour == 0 else "")
        + f"{h.hour.hour:02d}h"
        for h in hours
    ]
    return _trend_chart(
        labels,
        [h.events for h in hours],
        [h.alerts for h in hours],
        (t("chart.events_per_hour", lang), t("chart.alerts_per_hour", lang)),
        lang,
    )


def _trend_chart(
    labels: Sequence[str],
    events: Sequence[int],
    alerts: Sequence[int],
    titles: tuple[str, str],
    lang: str,
) -> bytes:
    _style()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    xs = list(range(len(labels)))
    top.bar(xs, events, color=_BLUE, width=0.8)
    top.set_title(titles[0], loc="left", fontsize=10)
    bottom.bar(xs, alerts, color=LEVEL_COLOURS["high"], width=0.8)
    bottom.set_title(titles[1], loc="left", fontsize=10)
    for axis in (top, bottom):
        axis.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _pos: format_number(v, lang))
        )
        axis.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=4, integer=True))
        axis.grid(axis="y", color="#dddddd", linewidth=0.6)
        axis.set_axisbelow(True)
    step = max(1, len(labels) // 12)
    bottom.set_xticks(xs[::step])
    bottom.set_xticklabels([_plain(label) for label in labels][::step], rotation=0)
    bottom.set_xlim(-0.6, max(len(labels) - 0.4, 0.6))
    fig.tight_layout()
    return _png(fig)


def severity_chart(by_level: Mapping[str, int], lang: str) -> bytes:
    """Alerts per level, most severe on top, as a PNG."""
    _style()
    levels = list(reversed(LEVELS))
    counts = [by_level.get(level, 0) for level in levels]
    fig, axis = plt.subplots(figsize=(5, 2.4))
    ys = list(range(len(levels)))
    axis.barh(ys, counts, color=[LEVEL_COLOURS[lv] for lv in levels])
    axis.set_yticks(ys)
    axis.set_yticklabels([t(f"level.{lv}", lang) for lv in levels])
    axis.invert_yaxis()
    axis.set_title(t("chart.alerts_by_level", lang), loc="left", fontsize=10)
    peak = max(counts) if counts else 0
    for y, n in zip(ys, counts, strict=True):
        axis.text(n + max(peak, 1) * 0.01, y, format_number(n, lang), va="center", fontsize=8)
    axis.set_xlim(0, max(peak, 1) * 1.15)
    axis.xaxis.set_visible(False)
    axis.spines["bottom"].set_visible(False)
    fig.tight_layout()
    return _png(fig)


#: Tactic columns per band of the ATT&CK heat map (more tactics wrap to another band).
BAND = 5


#: Height of one technique cell of the heat map (id, name on up to two lines, count).
ROW = 1.9


def _technique_label(cell: AttackCell, lang: str) -> str:
    """Id, ATT&CK name (wrapped, at most two lines) and alert count of one heat-map cell."""
    if not cell.technique:
        return f"—\n{format_number(cell.count, lang)}"
    name = (
        textwrap.wrap(cell.name, 22, max_lines=2, placeholder="…", break_on_hyphens=False)
        if cell.name
        else []
    )
    return "\n".join([cell.technique, *name, format_number(cell.count, lang)])


def attack_heatmap(cells: Sequence[AttackCell], lang: str) -> bytes:
    """ATT&CK tactics as columns (kill-chain order, wrapped in bands of BAND), their observed
    techniques stacked below with id and name, each cell coloured by its alert count, as a
    PNG."""
    _style()
    tactics: list[str] = []
    for cell in cells:
        if cell.tactic not in tactics:
            tactics.append(cell.tactic)
    columns = {tac: [c for c in cells if c.tactic == tac] for tac in tactics}
    bands = [tactics[i : i + BAND] for i in range(0, len(tactics), BAND)] or [[]]
    header = 1.3
    heights = [header + ROW * max((len(columns[t_]) for t_ in band), default=1) for band in bands]
    peak = max((c.count for c in cells), default=1)
    cmap = matplotlib.colormaps["YlOrRd"]
    width = max(3.0, 1.45 * min(len(tactics), BAND))
    fig, axis = plt.subplots(figsize=(width, 0.42 * sum(heights) + 0.4))
    top = 0.0
    for band, height in zip(bands, heights, strict=True):
        for x, tactic in enumerate(band):
            axis.text(
                x + 0.5,
                top + header - 0.15,
                _plain(textwrap.fill(t(f"tactic.{tactic}", lang), 15)),
                ha="center",
                va="bottom",
                fontsize=7.5,
                fontweight="bold",
            )
            for y, cell in enumerate(columns[tactic]):
                share = 0.25 + 0.75 * cell.count / peak
                axis.add_patch(
                    matplotlib.patches.Rectangle(
                        (x + 0.04, top + header + ROW * y + 0.06),
                        0.92,
                        ROW - 0.12,
                        color=cmap(share),
                        linewidth=0,
                    )
                )
                axis.text(
                    x + 0.5,
                    top + header + ROW * y + ROW / 2,
                    _plain(_technique_label(cell, lang)),
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white" if share > 0.7 else "black",
                )
        top += height
    axis.set_xlim(0, max(min(len(tactics), BAND), 1))
    axis.set_ylim(top, 0)
    axis.axis("off")
    axis.set_title(t("chart.attack", lang), loc="left", fontsize=10)
    fig.tight_layout()
    return _png(fig)
