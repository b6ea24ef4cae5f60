"""Sections -> a report folder: index.html (images embedded), the Markdown page, PNGs
and CSVs, published whole (never through a link).

The page reads at a glance (ARCHITECTURE.md, "The report"): the key findings first,
each a sentence with its numbers, gathered from the sections that computed them;
then a table of contents; figures two to a row where the page is wide enough, never
an empty one; tables without pandas' index column, numbers formatted, and per-epoch
tables (the data behind the curves) or any table longer than MAX_INLINE_ROWS linked
as their CSV rather than inlined.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from experiment_folder import csv_bytes

from .. import plots
from ..errors import AnalysisError
from ..files import publish

log = logging.getLogger(__name__)


FORMATS = ("html", "md", "both")


# Longer tables (per-epoch curves, a grid of losses) are linked as CSV, not inlined.
MAX_INLINE_ROWS = 25


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    # Sentences with numbers for the report's "Key findings", computed with the section.
    findings: list[str] = field(default_factory=list)
    # (label, relative href) to other pages: the course's links to each study's report.
    links: list[tuple[str, str]] = field(default_factory=list)


def fmt_value(value: Any) -> str:
    """A number as a reader wants it: 4 significant digits, thousands separated from
    10,000 on, powers of ten only for the very large or small; integers as integers."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        size = abs(value)
        if value == int(value) and size < 1e9:
            return f"{int(value):,}" if size >= 1e4 else str(int(value))  # a measured value
        if size >= 1e9 or size < 1e-4:
            return f"{value:.3g}"
        if size >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return str(value)  # counts, epochs, seeds: as they are (a seed 1,922,831,994 misleads)
    if hasattr(value, "item"):
        return fmt_value(value.item())
    return str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "item"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# What a Markdown viewer would render: emphasis, code, links and images, tables,
# headings, strike-through, raw HTML and entities. Backslash escapes show them literally.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


def md_text(text: str, bold: bool = False) -> str:
    """Text as Markdown shows it literally: HTML and Markdown syntax escaped, on one line.

    With ``bold``, the report's own ``**...**`` emphasis is kept (its inner text escaped)."""
    flat = " ".join(str(text).split())
    if not bold:
        return _MD_SPECIAL.sub(r"\\\1", flat)
    parts = flat.split("**")
    if len(parts) % 2 == 0:  # unbalanced: show every asterisk literally
        return _MD_SPECIAL.sub(r"\\\1", flat)
    return "**".join(_MD_SPECIAL.sub(r"\\\1", p) for p in parts)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as it is shown: a meaningful index becomes a column, a 0..n one goes, and
    a name on the columns (which pandas draws as an extra header row) is dropped."""
    if frame.index.name or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _md_table(frame: pd.DataFrame) -> str:
    frame = _plain(frame)
    header = "| " + " | ".join(md_text(str(c)) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(md_text(fmt_value(v)) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _html_table(frame: pd.DataFrame) -> str:
    frame = _plain(frame)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{'num' if _numeric(v) else 'txt'}'>{html.escape(fmt_value(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _numeric(value: Any) -> bool:
    """Whether a cell is a number (right-aligned); a bool is not."""
    if isinstance(value, bool):
        return False
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    return isinstance(value, (int, float)) or kind in ("i", "u", "f")


def _table_title(name: str) -> str:
    return name.replace("_", " ")


def _html_text(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


CSS = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:1.5em auto;
padding:0 1.5em;color:#222;line-height:1.45}
h1{margin-bottom:0.3em}h2{border-bottom:1px solid #ddd;padding-bottom:0.2em;margin-top:2em}
.findings{background:#f4f8fc;border-left:4px solid #1f77b4;padding:0.6em 1.2em;margin:1em 0}
.findings h2{margin:0.2em 0;border:0}.findings li{margin:0.3em 0}
nav.toc{font-size:0.95em;margin:0.5em 0 1em}nav.toc a{margin-right:1.2em;white-space:nowrap}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1em;
margin:1em 0}.figs figure{margin:0}.figs figure.wide{grid-column:1/-1}
img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;margin:0.5em 0 1.2em;font-size:0.9em}
td,th{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.txt{text-align:left}
h3{font-size:1em;margin:1.2em 0 0.2em}p.csv{margin:0.3em 0}
.wide-table{overflow-x:auto;max-width:100%}"""


# A figure wider than this (inches) spans the whole row.
WIDE_INCHES = 8.0


def write_sections(
    title: str,
    sections: list[Section],
    folder: Path,
    fmt: str,
    owned: bool = False,
    md_name: str = "report.md",
    findings_title: str = "Key findings",
) -> Path:
    """Write sections as index.html (self-contained), ``md_name``, PNGs and CSVs in ``folder``.

    Everything is rendered in memory first, then published as a whole (files.publish):
    never through a link, and never leaving files of an earlier report behind."""
    if fmt not in FORMATS:
        raise AnalysisError(f"format={fmt!r}; allowed: {', '.join(FORMATS)}")
    page = _Page(title)
    page.findings(findings_title, [f for section in sections for f in section.findings])
    anchors = _anchors(sections)
    page.contents(anchors)
    for section, anchor in anchors:
        page.section(section, anchor)
    files = page.files
    if fmt in ("md", "both"):
        files[md_name] = "\n".join(page.md).encode("utf-8")
    if fmt in ("html", "both"):
        files["index.html"] = "\n".join([*page.html, "</body></html>"]).encode("utf-8")
    publish(files, folder, owned)
    log.info("report in %s", folder)
    return folder


class _Page:
    """A page rendered in memory, as Markdown and HTML side by side, with the files it
    links (PNGs, CSVs)."""

    def __init__(self, title: str) -> None:
        self.files: dict[str, bytes] = {}
        self.md = [f"# {md_text(title)}", ""]
        self.html = [
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>"
        ]

    def findings(self, title: str, findings: list[str]) -> None:
        """The key findings, first on the page."""
        if not findings:
            return
        self.md += [f"## {md_text(title)}", "", *[f"- {md_text(f, bold=True)}" for f in findings]]
        self.md.append("")
        self.html.append(
            "<section class='findings' id='key-findings'>"
            f"<h2>{html.escape(title)}</h2><ul>"
            + "".join(f"<li>{_html_text(f)}</li>" for f in findings)
            + "</ul></section>"
        )

    def contents(self, anchors: list[tuple[Section, str]]) -> None:
        self.html.append(
            "<nav class='toc'><b>Contents:</b> "
            # Spaces between the links: the only places a long contents line may wrap.
            + " ".join(f"<a href='#{a}'>{html.escape(s.title)}</a>" for s, a in anchors)
            + "</nav>"
        )

    def section(self, section: Section, anchor: str) -> None:
        self.md += [f"## {md_text(section.title)}", ""]
        self.html.append(f"<h2 id='{anchor}'>{html.escape(section.title)}</h2>")
        for text in section.text:
            self.md += [md_text(text, bold=True), ""]
            self.html.append(f"<p>{_html_text(text)}</p>")
        if section.links:
            self._links(section.links)
        self._figures(_drawn(section.figures))
        for name, frame in section.tables:
            self._table(name, frame)

    def _links(self, links: list[tuple[str, str]]) -> None:
        self.md += [" · ".join(f"[{md_text(label)}]({href})" for label, href in links), ""]
        self.html.append(
            "<p class='links'>"
            + " · ".join(
                f"<a href='{html.escape(href, quote=True)}'>{html.escape(label)}</a>"
                for label, href in links
            )
            + "</p>"
        )

    def _figures(self, figures: list[tuple[str, Figure]]) -> None:
        """Figures two to a row, a wide one across the row; each also as a PNG."""
        if not figures:
            return
        self.html.append("<div class='figs'>")
        for name, fig in figures:
            wide = fig.get_size_inches()[0] > WIDE_INCHES
            data = _png(fig)
            self.files[f"{_slug(name)}.png"] = data
            self.md += [f"![{md_text(name)}]({_slug(name)}.png)", ""]
            alt = html.escape(_table_title(name))
            self.html.append(
                f"<figure{' class=wide' if wide else ''}><img alt='{alt}' "
                f"src='data:image/png;base64,{base64.b64encode(data).decode()}'></figure>"
            )
        self.html.append("</div>")

    def _table(self, name: str, frame: pd.DataFrame) -> None:
        """A table inlined, or (curves, long tables) linked as its CSV; a CSV either way."""
        csv = f"{_slug(name)}.csv"
        self.files[csv] = csv_bytes(frame, index=True)
        label = _table_title(name)
        if len(frame) > MAX_INLINE_ROWS or "epoch" in frame.columns:  # curves: a CSV
            self.md += [f"**{md_text(label)}**: {len(frame):,} rows in [{csv}]({csv})", ""]
            self.html.append(
                f"<p class='csv'><b>{html.escape(label)}</b>: {len(frame):,} rows in "
                f"<a href='{csv}'>{csv}</a></p>"
            )
            return
        self.md += [f"**{md_text(label)}**", "", _md_table(frame), ""]
        self.html.append(f"<h3>{html.escape(label)}</h3>")
        self.html.append(f"<div class='wide-table'>{_html_table(frame)}</div>")


def _anchors(sections: list[Section]) -> list[tuple[Section, str]]:
    """Each section with a unique id for the table of contents."""
    seen: set[str] = set()
    out = []
    for section in sections:
        base = _slug(section.title).lower()
        anchor, n = base, 2
        while anchor in seen:
            anchor, n = f"{base}-{n}", n + 1
        seen.add(anchor)
        out.append((section, anchor))
    return out


def _drawn(figures: list[tuple[str, Figure]]) -> list[tuple[str, Figure]]:
    """The figures that draw something; an empty one is closed and left out."""
    kept = []
    for name, fig in figures:
        if plots.has_data(fig):
            kept.append((name, fig))
        else:
            log.info("report: figure %s has nothing to draw; left out", name)
            plt.close(fig)
    return kept
