"""Which files of a source tree are read: `--exclude` patterns and Helm chart templates.

A GitOps repository holds more than manifests: Helm charts (whose `templates/` are Go
templates, not YAML until rendered), CI files, tool configuration. Exclusion follows
gitignore's pattern rules, because that is the pattern language every such repository
already uses (git-scm.com/docs/gitignore, "PATTERN FORMAT"):

- a blank line or one starting with `#` is no pattern; `!` negates (re-includes);
- a trailing `/` matches directories only;
- a pattern with a `/` at its start or in its middle is relative to the root; otherwise it
  matches at any depth;
- `*` matches anything but `/`, `?` one character but `/`, `[...]` a class; a leading
  `**/` matches in all directories, a trailing `/**` everything inside, `/**/` zero or
  more directories;
- "It is not possible to re-include a file if a parent directory of that file is
  excluded": a directory that is excluded is not entered.

A Helm chart is a directory holding `Chart.yaml` beside `templates/` (helm.sh/docs/topics/
charts, "The Chart File Structure"); its templates are skipped with one note per chart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CHART_FILE = "Chart.yaml"
TEMPLATES_DIR = "templates"


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str]
    negated: bool
    directories_only: bool


class PatternError(ValueError):
    """An exclude pattern that cannot be read (an unclosed `[`)."""


def _translate(body: str) -> str:
    """gitignore glob -> regular expression for a whole relative path."""
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if body.startswith("/**", i) and i + 3 == len(body):
            out.append("/.*")
            i += 3
            continue
        if body.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = body.find("]", i + 2 if body[i + 1:i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                raise PatternError(f"unclosed [ in exclude pattern {body!r}")
            inner = body[i + 1:end]
            if inner[:1] in ("!", "^"):
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end
        elif char == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 1
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def parse_pattern(text: str) -> Pattern | None:
    """One gitignore line as a Pattern, or None for a blank line or a comment."""
    line = text.rstrip()
    if line.endswith("\\") and text != line:
        line += " "  # an escaped trailing space stays
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated or line.startswith(("\\!", "\\#")):
        line = line[1:]
    directories_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    body = line.lstrip("/")
    regex = _translate(body)
    if not anchored:
        regex = "(?:.*/)?" + regex
    return Pattern(text, re.compile(regex + r"\Z", re.DOTALL), negated, directories_only)


class Excludes:
    """A list of gitignore-style patterns; the last matching pattern decides."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns = [p for p in (parse_pattern(t) for t in patterns) if p is not None]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, relative: str, is_dir: bool) -> bool:
        """Whether `relative` (a `/`-separated path below the root) is excluded itself.
        Callers do not descend into excluded directories (gitignore's rule)."""
        verdict = False
        for pattern in self.patterns:
            if pattern.directories_only and not is_dir:
                continue
            if pattern.regex.match(relative):
                verdict = not pattern.negated
        return verdict

    def excludes_path(self, relative: str) -> bool:
        """Whether a file at `relative` is excluded, itself or through a parent directory
        (for listings that are not walked, such as a git tree)."""
        parts = relative.split("/")
        for depth in range(1, len(parts)):
            if self.excluded("/".join(parts[:depth]), is_dir=True):
                return True
        return self.excluded(relative, is_dir=False)


def chart_roots(relative_files: Sequence[str]) -> list[str]:
    """Directories (relative, `/`-separated; `""` for the root) that are Helm charts: they
    hold a Chart.yaml and at least one file under templates/."""
    files = set(relative_files)
    candidates = {f.rpartition("/")[0] for f in files if f.rpartition("/")[2] == CHART_FILE}
    roots = []
    for root in sorted(candidates):
        prefix = f"{root}/{TEMPLATES_DIR}/" if root else f"{TEMPLATES_DIR}/"
        if any(f.startswith(prefix) for f in files):
            roots.append(root)
    return roots


def in_templates(relative: str, charts: Sequence[str]) -> str | None:
    """The chart whose templates/ holds `relative`, or None."""
    for root in charts:
        prefix = f"{root}/{TEMPLATES_DIR}/" if root else f"{TEMPLATES_DIR}/"
        if relative.startswith(prefix):
            return root
    return None


def chart_note(chart_path: str) -> str:
    """What to do with a chart whose templates were skipped."""
    return (f"{chart_path}: a Helm chart; its templates are not analysed (render them: "
            f"`helm template {chart_path} | netpol-fix scan -`)")
