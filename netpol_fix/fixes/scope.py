"""Where fixes may be written: under the roots the user named, never elsewhere.

A manifest inside a SOURCES directory can be a symlink to anywhere (`link.yaml ->
../outside/victim.yaml`, or an absolute link committed to a repository); editing it would
rewrite a file the user never asked netpol-fix to touch. So every file is resolved (all
symlinks followed, as the write would follow them) and written only when its real path lies
under the real path of one of the roots: a SOURCES directory, or the folder of a SOURCES
file; for `pr`, the throwaway worktree. `--write-outside-sources` lifts this for `fix`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class WriteScope:
    roots: tuple[str, ...]
    """Real paths of the folders files may be written under."""
    what: str = "the SOURCES"
    """How the roots are named in a refusal."""
    hint: str = " (--write-outside-sources writes it anyway)"

    @classmethod
    def of_sources(cls, sources: Iterable[str]) -> WriteScope:
        """The roots of SOURCES: each directory, and the folder holding each file (as
        given, before resolving, so a SOURCES file that is itself a symlink to elsewhere
        is refused as well)."""
        roots = []
        for source in sources:
            if source == "-":
                continue
            folder = source if os.path.isdir(source) else os.path.dirname(source) or "."
            roots.append(os.path.realpath(folder))
        return cls(tuple(dict.fromkeys(roots)))

    def refusal(self, file: str) -> str | None:
        """None when `file` may be written, else the reason it is refused."""
        real = os.path.realpath(file)
        for root in self.roots:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return None
        link = f"a symlink to {real}" if real != os.path.abspath(file) else f"at {real}"
        return f"not written: {link}, outside {self.what}{self.hint}"
