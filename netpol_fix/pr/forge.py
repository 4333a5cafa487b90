"""What `pr` asks of a forge: open the pull request for a branch, or bring it up to date."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from netpol_fix.pr.body import PullRequestText


@dataclass(frozen=True)
class Outcome:
    """What happened: `created`, `updated`, or `unchanged` (same fingerprint and title)."""

    action: str
    number: int
    url: str


class Forge(Protocol):
    def publish(self, branch: str, base: str, text: PullRequestText,
                labels: tuple[str, ...], draft: bool) -> Outcome:
        """Create the pull request for `branch`, or update the open one; idempotent."""
        ...
