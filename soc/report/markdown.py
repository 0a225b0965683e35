"""Markdown rendering for e-mail and chat: headings, bullet summaries and pipe tables.

Every string is passed through soc.report.safe.md_text, so values from logs cannot become
links, images, HTML or formatting, and cannot start a spreadsheet formula. Charts are left
out (chat clients do not show embedded images); their numbers are in the tables.
"""

from __future__ import annotations

from soc.report.document import Document, Facts, Figure, Kpis, Paragraphs, Table
from soc.report.safe import md_text


def _table(block: Table) -> list[str]:
    lines = [
        "| " + " | ".join(md_text(h) for h in block.headers) + " |",
        "|"
        + "|".join("---:" if i in block.numeric else "---" for i in range(len(block.headers)))
        + "|",
    ]
    for row in block.rows:
        lines.append("| " + " | ".join(md_text(str(c)) or " " for c in row) + " |")
    lines.append("")
    if block.note:
        lines.extend([f"_{md_text(block.note)}_", ""])
    return lines


def render_markdown(doc: Document) -> str:
    """The document as Markdown text."""
    lines = [f"# {md_text(doc.title)}", "", f"**{md_text(doc.org)}**", ""]
    lines.extend(f"{md_text(s)}  " for s in doc.subtitle)
    lines.append("")
    lines.extend(f"_{md_text(m)}_  " for m in doc.meta)
    lines.append("")
    for section in doc.sections:
        lines.extend([f"## {md_text(section.title)}", ""])
        for block in section.blocks:
            if isinstance(block, Table):
                lines.extend(_table(block))
            elif isinstance(block, Kpis):
                for k in block.items:
                    note = f" ({md_text(k.note)})" if k.note else ""
                    lines.append(f"- {md_text(k.label)}: **{md_text(k.value)}**{note}")
                lines.append("")
            elif isinstance(block, Paragraphs):
                if block.bullets:
                    lines.extend(f"- {md_text(s)}" for s in block.sentences)
                else:
                    lines.extend(md_text(s) for s in block.sentences)
                lines.append("")
            elif isinstance(block, Facts):
                lines.extend(f"- {md_text(k)}: {md_text(str(v))}" for k, v in block.items)
                lines.append("")
            elif isinstance(block, Figure):
                continue
    lines.extend(["---", "", f"_{md_text(doc.footer)}_", ""])
    return "\n".join(lines)
