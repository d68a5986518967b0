"""Self-contained HTML pages: inline CSS, figures embedded as data: URIs, nothing fetched.

A page is a title and a list of sections; a section is a heading and already-escaped HTML parts
built with `table`, `figure`, `paragraph` and `details`. Everything user-supplied (texts, label
names, paths) goes through `escape`.
"""

from __future__ import annotations

import base64
import html
from typing import Any, Iterable, Sequence

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 10px; }
section { background: white; border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
table { border-collapse: collapse; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 4px 10px; text-align: right; vertical-align: top; }
th { background: #f3f4f6; } th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; max-width: 640px; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.muted { color: #656d76; } .good { color: #1a7f37; } .bad { color: #cf222e; }
mark.true { background: #dafbe1; } mark.pred { background: #ffebe9; } mark.both { background: #fff8c5; }
.thumbs { display: flex; flex-wrap: wrap; gap: 10px; } .thumb { width: 120px; font-size: 12px; text-align: center; }
.thumb img { width: 96px; height: 96px; image-rendering: pixelated; margin: 0 auto 4px; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 4px; }
"""


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(png: bytes | None, alt: str, missing: str = "") -> str:
    """An embedded PNG, or a note saying why there is none."""
    if png is None:
        return paragraph(f"(no figure: {missing})", muted=True) if missing else ""
    return f'<img alt="{escape(alt)}" src="{png_uri(png)}">'


def paragraph(text: str, *, muted: bool = False, raw: bool = False) -> str:
    return f'<p{" class=muted" if muted else ""}>{text if raw else escape(text)}</p>'


def cell(value: Any, fmt: str = "{:.4f}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):  # tiny or huge numbers (learning rates) keep their digits
        small_or_large = value != 0 and not 1e-3 <= abs(value) < 1e6
        return escape(f"{value:.4g}" if small_or_large else fmt.format(value))
    return escape(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw_columns: Sequence[int] = (),
          text_columns: Sequence[int] = (), caption: str | None = None, table_id: str | None = None) -> str:
    """An HTML table; cells are escaped except the `raw_columns` (already HTML)."""
    parts = [f'<table{f" id={escape(table_id)}" if table_id else ""}>']
    if caption:
        parts.append(f"<caption class=muted>{escape(caption)}</caption>")
    parts.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            content = str(value) if i in raw_columns else cell(value)
            cells.append(f'<td class=text>{content}</td>' if i in text_columns else f"<td>{content}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def details(summary: str, body: str) -> str:
    return f"<details><summary>{escape(summary)}</summary>{body}</details>"


def section(heading: str, *parts: str, section_id: str | None = None) -> str:
    ident = f' id="{escape(section_id)}"' if section_id else ""
    return f"<section{ident}><h2>{escape(heading)}</h2>{''.join(p for p in parts if p)}</section>"


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>"
            f"<h1>{escape(title)}</h1><p class=muted>{escape(subtitle)}</p>{''.join(sections)}"
            "</main></body></html>")
