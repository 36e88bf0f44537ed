"""A report as one self-contained HTML page.

Figures are embedded as base64 PNG, the style sheet is inline and there is no
script, so the file can be mailed, archived or opened offline. The layout is a
single column of readable width; tables scroll sideways and images shrink on a
narrow screen.
"""

from __future__ import annotations

import base64
import html
import re

from reconbench.reports.document import Report
from reconbench.reports.tables import to_html as table_html

CSS_DPI = 96  # figures are shown at their size in inches, sharper PNGs shrunk to fit

STYLE = """
:root { color-scheme: light; --muted: #555; --rule: #ccc; --accent: #0072B2; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 68rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid var(--rule);
     padding-bottom: .2rem; }
a { color: var(--accent); }
nav { font-size: .9rem; margin: .5rem 0 1rem; }
nav a { margin-right: 1rem; white-space: nowrap; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
           font-size: .85rem; margin: 0; }
dl.facts dt { font-weight: 600; color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
details { margin: .5rem 0 1rem; }
summary { cursor: pointer; color: var(--muted); }
ul.summary li { margin: .25rem 0; }
figure { margin: 1.5rem 0; }
figcaption { font-size: .85rem; color: var(--muted); margin: .3rem 0; }
figure img { display: block; max-width: 100%; height: auto; }
figure.plot img { border: 1px solid #eee; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums;
        border-top: 2px solid #222; border-bottom: 2px solid #222; }
thead th { border-bottom: 1px solid #222; white-space: normal; vertical-align: bottom; }
tbody + tbody { border-top: 1px solid var(--rule); }
th, td { padding: .25rem .6rem; text-align: left; white-space: nowrap; }
th { font-weight: 600; }
tbody th { font-weight: normal; }
.num { text-align: right; }
td strong { font-weight: 700; }
"""


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _inline_markdown(text: str) -> str:
    """Escaped text with ``**bold**`` made ``<strong>``."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def to_html(report: Report, images: dict[str, bytes]) -> str:
    """The page of ``report``; ``images`` maps each plot name to its PNG bytes."""
    esc = html.escape
    facts = "".join(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in report.facts)
    nav = "".join(f'<a href="#{_anchor(s.heading)}">{esc(s.heading)}</a>'
                  for s in report.sections)
    body = [f"<h1>{esc(report.title)}</h1>", f"<nav>{nav}</nav>",
            '<ul class="summary">'
            + "".join(f"<li>{_inline_markdown(s)}</li>" for s in report.summary) + "</ul>",
            f'<details open><summary>Run</summary><dl class="facts">{facts}</dl></details>']
    for section in report.sections:
        body.append(f'<h2 id="{_anchor(section.heading)}">{esc(section.heading)}</h2>')
        if section.text:
            body.append(f"<p>{_inline_markdown(section.text)}</p>")
        body += [table_html(t) for t in section.tables]
        for plot in section.plots:
            data = base64.b64encode(images[plot.name]).decode("ascii")
            width = round(plot.figure.get_figwidth() * CSS_DPI)
            body.append(f'<figure class="plot" id="{esc(plot.name)}"><img alt="{esc(plot.caption)}"'
                        f' width="{width}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{esc(plot.caption)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(report.title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
