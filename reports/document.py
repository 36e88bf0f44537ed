"""What a report is: a title, facts, summary sentences, sections of tables and figures.

Built by :mod:`reconbench.reports.report` and :mod:`reconbench.reports.compare`;
written as Markdown by the former and as HTML by :mod:`reconbench.reports.html`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.figure import Figure

from reconbench.reports.tables import Table


@dataclass
class Plot:
    """A figure and what it shows; ``name`` is its file stem."""

    name: str
    caption: str
    figure: Figure


@dataclass
class Section:
    """A heading, an optional paragraph, then tables and figures."""

    heading: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)


@dataclass
class Report:
    """Everything a report shows, in reading order."""

    title: str
    facts: list[tuple[str, str]]
    summary: list[str]
    sections: list[Section]
