"""The bad-input matrix of ``docs/reliability.md``, read from the code and from the doc.

Every place the package raises :class:`~reconbench.errors.InputError` (or its
subclass ``ConfigError``) is a *site*: the module, the function and the how-many-th
raise in it (``datasets/cf.py::check_times#2``), with its message *pattern*, the
message's literal text with ``{…}`` where a value is filled in. The doc has one row
per site naming the test that pins the message; ``tests/test_reliability_doc.py``
checks the two agree. After changing a message or adding a raise, rewrite the doc's
table (the test named in each kept row stays) with::

    python tests/reliability_matrix.py
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
PACKAGE_FOLDERS = ("benchmark", "datasets", "methods", "reports")
ERRORS = {"InputError", "ConfigError"}
FILLED = "{…}"
#: How many characters in a row of a message's literal text a test must hold to pin it.
WINDOW = 16
ROW = re.compile(r"^\| `(?P<site>[^`]+)` \| (?P<pattern>.*) \| (?P<test>`[^`]+`|—[^|]*) \|$")


@dataclass(frozen=True)
class Site:
    """One ``raise InputError(...)`` (or a constructed one) in the package."""

    site: str  # "path::function#k"
    pattern: str  # the message's literal text, {…} where a value is filled in

    @property
    def pieces(self) -> list[str]:
        """The literal pieces of the pattern, longest first."""
        return sorted((p.strip() for p in self.pattern.split(FILLED) if p.strip()), key=len,
                      reverse=True)


def package_files() -> list[Path]:
    """The package's source files: the top-level modules and the four sub-packages."""
    files = sorted(ROOT.glob("*.py"))
    for folder in PACKAGE_FOLDERS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def _pattern(node: ast.expr | None) -> str:
    """The literal text of a message expression, ``{…}`` for every computed part."""
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else FILLED for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _pattern(node.left) + _pattern(node.right)
    return FILLED


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str):
        self.path, self.stack, self.sites, self.counts = path, [], [], {}

    def _scope(self, node):
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Call(self, node: ast.Call):
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in ERRORS:
            where = f"{self.path}::{'.'.join(self.stack) or '<module>'}"
            self.counts[where] = self.counts.get(where, 0) + 1
            self.sites.append(Site(f"{where}#{self.counts[where]}",
                                   re.sub(r"\s+", " ", _pattern(node.args[0] if node.args
                                                                else None))))
        self.generic_visit(node)


def code_sites() -> list[Site]:
    """Every InputError/ConfigError constructed in the package, in file order."""
    sites = []
    for path in package_files():
        finder = _Finder(path.relative_to(ROOT).as_posix())
        finder.visit(ast.parse(path.read_text()))
        sites += finder.sites
    return sites


def doc_rows(text: str | None = None) -> dict[str, tuple[str, str]]:
    """The doc's rows: site -> (pattern as written, test cell)."""
    text = DOC.read_text() if text is None else text
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            pattern = match["pattern"].strip()
            rows[match["site"]] = (pattern[1:-1] if pattern.startswith("`") else pattern,
                                   match["test"].strip("`"))
    return rows


def source_of_test(nodeid: str) -> str | None:
    """The source of a test (``tests/x.py::name`` or ``tests/x.py::Class::name``) with the
    module-level names it uses (parametrize tables, suite texts), or None if absent."""
    path, *names = nodeid.split("::")
    file = ROOT / path
    if not file.is_file():
        return None
    text = file.read_text()
    tree = ast.parse(text)
    body, node = tree.body, None
    for name in names:
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     and n.name == name), None)
        if node is None:
            return None
        body = node.body
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    parts = [ast.get_source_segment(text, node)]
    parts += [ast.get_source_segment(text, d) for d in node.decorator_list]
    for top in tree.body:
        targets = (top.targets if isinstance(top, ast.Assign) else [top.target]
                   if isinstance(top, ast.AnnAssign) else [])
        if any(isinstance(t, ast.Name) and t.id in used for t in targets):
            parts.append(ast.get_source_segment(text, top))
        if isinstance(top, ast.FunctionDef) and top.name in used and not top.name.startswith(
                "test"):  # a helper the test calls (it builds the bad input or the check)
            parts.append(ast.get_source_segment(text, top))
    return "\n".join(parts)


def windows(site: Site, sites: list[Site]) -> set[str]:
    """The runs of :data:`WINDOW` characters (a whole piece, if shorter, of at least 4) of
    the site's literal text that tell it apart: those no other site's message holds, or
    all of them where every one is shared (a message that another one contains)."""
    runs = set()
    for piece in site.pieces:
        size = min(len(piece), WINDOW)
        runs |= {piece[i:i + size] for i in range(len(piece) - size + 1 if size >= 4 else 0)}
    others = [s.pattern for s in sites if s.site != site.site]
    own = {r for r in runs if not any(r in other for other in others)}
    return own or runs


def asserted(site: Site, source: str, sites: list[Site]) -> bool:
    """True when ``source`` holds one of the site's :func:`windows` (regex escapes
    ignored): the test asserts this message, not merely one like it. A site without
    literal text (it passes on another error's message) needs only its test."""
    plain = re.sub(r"\s+", " ", source.replace("\\", ""))
    runs = windows(site, sites)
    return not runs or any(window in plain for window in runs)  # none: another's message


def shown(pattern: str) -> str:
    """A pattern as the doc's table cell holds it (| escaped, backquotes as quotes)."""
    return pattern.replace("|", "\\|").replace("`", "'")


def table(sites: list[Site], rows: dict[str, tuple[str, str]]) -> str:
    """The doc's table: one row per site, keeping each kept site's test."""
    lines = ["| site | message (`{…}`: a value filled in) | pinned by |", "|---|---|---|"]
    for site in sites:
        test = rows.get(site.site, ("", "— none yet"))[1]
        cell = test if test.startswith("—") else f"`{test}`"
        lines.append(f"| `{site.site}` | `{shown(site.pattern)}` | {cell} |")
    return "\n".join(lines)


def rewrite_doc() -> None:
    """Replace the doc's table with one built from the code (tests kept per site)."""
    text = DOC.read_text()
    start, end = "<!-- matrix start -->", "<!-- matrix end -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    sites = code_sites()
    body = table(sites, doc_rows(text))
    DOC.write_text(f"{head}{start}\n{body}\n{end}{tail}")


if __name__ == "__main__":
    sys.exit(rewrite_doc())
