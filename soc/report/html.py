"""HTML rendering: one self-contained file (inline CSS, embedded font, charts as data: PNG),
a Content-Security-Policy that forbids every fetch and every script, and print styles.

Every string of the document is escaped by soc.report.safe; cells also have formula
characters neutralised, so a table copied into a spreadsheet runs nothing.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from soc.report.document import (
    Badge,
    Block,
    Cell,
    Document,
    Facts,
    Figure,
    Kpis,
    Paragraphs,
    Section,
    Table,
)
from soc.report.fonts import FAMILY, font_face_css
from soc.report.safe import Markup, element, esc, neutralize_formula

#: The page may load nothing but its own data: images and fonts, and run no script.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)

_CSS = """
:root { --ink:#1d2733; --muted:#5b6b7c; --line:#d5dde6; --band:#f3f6f9; --accent:#1f5f99; }
* { box-sizing: border-box; }
html { font-family: 'FAMILY', 'DejaVu Sans', 'Noto Sans', Arial, sans-serif; color: var(--ink);
  font-size: 10.5pt; line-height: 1.45; }
body { margin: 0 auto; max-width: 190mm; padding: 10mm 8mm; background: #fff; }
header.top { border-bottom: 3px solid var(--accent); padding-bottom: 4mm; margin-bottom: 5mm; }
header.top .org { text-transform: uppercase; letter-spacing: .04em; color: var(--accent);
  font-weight: bold; font-size: 9.5pt; }
h1 { font-size: 19pt; margin: 2mm 0 1mm; }
header.top .sub { font-size: 11.5pt; margin: 0; }
header.top .meta { color: var(--muted); font-size: 8.5pt; margin: 1.5mm 0 0; }
h2 { font-size: 13pt; color: var(--accent); border-bottom: 1px solid var(--line);
  padding-bottom: 1mm; margin: 7mm 0 3mm; break-after: avoid; page-break-after: avoid; }
section { break-inside: auto; }
ul.summary { margin: 0; padding-left: 5mm; }
ul.summary li { margin: 0 0 1.2mm; }
.kpis { display: grid; grid-template-columns: repeat(3, 1fr); gap: 3mm; }
.kpi { background: var(--band); border-radius: 2mm; padding: 2.5mm 3mm; break-inside: avoid; }
.kpi .label { color: var(--muted); font-size: 8.5pt; }
.kpi .value { font-size: 16pt; font-weight: bold; }
.kpi .note { color: var(--muted); font-size: 8pt; }
table { border-collapse: collapse; width: 100%; margin: 0 0 3mm; font-size: 9pt; }
th, td { text-align: left; padding: 1.2mm 2mm; border-bottom: 1px solid var(--line);
  vertical-align: top; overflow-wrap: break-word; hyphens: manual; }
.nb { white-space: nowrap; }
th { background: var(--band); font-weight: bold; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.nowrap { white-space: nowrap; overflow-wrap: normal; }
tr { break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
.badge { display: inline-block; border-radius: 1mm; padding: 0 1.5mm; font-size: 8.5pt;
  font-weight: bold; white-space: nowrap; }
.t-informational { background:#e3e9ef; color:#3d4f61; }
.t-low { background:#dcefe3; color:#23603f; }
.t-medium { background:#fbefd2; color:#7a5800; } .t-high { background:#fbe0d2; color:#8a3510; }
.t-critical { background:#b3202a; color:#fff; } .t-good { background:#dcefe3; color:#23603f; }
.t-bad { background:#fbe0d2; color:#8a3510; } .t-neutral { background:#e3e9ef; color:#3d4f61; }
figure { margin: 0 0 3mm; break-inside: avoid; page-break-inside: avoid; }
figure img { display: block; max-width: 100%; height: auto; }
figure.half img { max-width: 60%; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 1mm 5mm; margin: 0 0 3mm; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
p.note { color: var(--muted); font-size: 8.5pt; margin: 0 0 3mm; }
footer { margin-top: 8mm; border-top: 1px solid var(--line); padding-top: 2mm;
  color: var(--muted); font-size: 8pt; }
@page { size: A4; margin: 12mm 12mm 14mm; }
@media print {
  body { max-width: none; padding: 0; }
  h2 { margin-top: 5mm; }
  .kpi { background: #eef2f6; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  th, .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
""".replace("FAMILY", FAMILY)


#: A word holding one of these is an id, address, host, account or time ("CASE-20261201-0001",
#: "201.178.81.113", "lan.nguyen", "10:05"): it is kept on one line.
_TIGHT = re.compile(r"[\d.\-_@:/\\]")
#: Longer words (URLs, command lines) may still break, so that they never overflow the page.
NB_LONGEST = 48


def unbreakable(text: str) -> Markup:
    """Text whose ids, addresses and names (see _TIGHT) are each kept on one line in a
    ``span.nb``; everything else wraps at spaces only."""
    parts: list[Markup] = []
    for word in re.split(r"(\s+)", text):
        if word and not word.isspace() and _TIGHT.search(word) and len(word) <= NB_LONGEST:
            parts.append(element("span", word, class_="nb"))
        else:
            parts.append(esc(word))
    return Markup("".join(parts))


def _cell(value: Cell, *, numeric: bool, header: bool = False, nowrap: bool = False) -> Markup:
    tag = "th" if header else "td"
    css = " ".join(c for c in ("num" if numeric else "", "nowrap" if nowrap else "") if c) or None
    if isinstance(value, Badge):
        inner = element("span", neutralize_formula(value.text), class_=f"badge t-{value.tone}")
        return element(tag, inner, class_=css)
    return element(tag, unbreakable(neutralize_formula(value)), class_=css)


def _table(block: Table) -> Markup:
    head = element(
        "thead",
        element(
            "tr",
            [
                _cell(h, numeric=i in block.numeric, header=True)
                for i, h in enumerate(block.headers)
            ],
        ),
    )
    body = element(
        "tbody",
        [
            element(
                "tr",
                [
                    _cell(c, numeric=i in block.numeric, nowrap=i in block.nowrap)
                    for i, c in enumerate(row)
                ],
            )
            for row in block.rows
        ],
    )
    parts = [element("table", head, body)]
    if block.note:
        parts.append(element("p", block.note, class_="note"))
    return Markup("".join(parts))


def _block(block: Block) -> Markup:
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Kpis):
        return element(
            "div",
            [
                element(
                    "div",
                    element("div", k.label, class_="label"),
                    element("div", k.value, class_="value"),
                    element("div", k.note, class_="note") if k.note else None,
                    class_="kpi",
                )
                for k in block.items
            ],
            class_="kpis",
        )
    if isinstance(block, Paragraphs):
        if block.bullets:
            return element("ul", [element("li", s) for s in block.sentences], class_="summary")
        return Markup("".join(element("p", s) for s in block.sentences))
    if isinstance(block, Facts):
        items: list[Any] = []
        for label, value in block.items:
            items.append(element("dt", label))
            if isinstance(value, Badge):
                items.append(
                    element("dd", element("span", value.text, class_=f"badge t-{value.tone}"))
                )
            else:
                items.append(element("dd", unbreakable(neutralize_formula(value))))
        return element("dl", items, class_="facts")
    if isinstance(block, Figure):
        uri = "data:image/png;base64," + base64.b64encode(block.png).decode("ascii")
        return element(
            "figure", element("img", src=uri, alt=block.alt), class_=None if block.wide else "half"
        )
    raise TypeError(f"unknown block {type(block).__name__}")


def _section(section: Section) -> Markup:
    return element(
        "section",
        element("h2", section.title),
        [_block(b) for b in section.blocks],
        id=f"s-{section.key}",
    )


def render_html(doc: Document) -> str:
    """The document as one self-contained HTML page."""
    header = element(
        "header",
        element("div", doc.org, class_="org"),
        element("h1", doc.title),
        [element("p", line, class_="sub") for line in doc.subtitle],
        [element("p", line, class_="meta") for line in doc.meta],
        class_="top",
    )
    body = element(
        "body",
        header,
        element("main", [_section(s) for s in doc.sections]),
        element("footer", doc.footer),
    )
    fonts = font_face_css(_text_of(body))
    head = element(
        "head",
        element("meta", charset="utf-8"),
        element("meta", http_equiv="Content-Security-Policy", content=CSP),
        element("meta", name="viewport", content="width=device-width, initial-scale=1"),
        element("meta", name="referrer", content="no-referrer"),
        element("title", f"{doc.title} — {' · '.join(doc.subtitle)}"),
        element("style", Markup(_style_text(fonts + "\n" + _CSS))),
    )
    return "<!DOCTYPE html>\n" + element("html", head, body, lang=doc.lang) + "\n"


def _style_text(css: str) -> str:
    # Our own CSS only; make sure it can never close the style element early.
    return css.replace("</", "<\\/")


def _text_of(markup: str) -> str:
    return "".join(sorted(set(markup)))
