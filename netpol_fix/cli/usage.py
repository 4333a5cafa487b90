"""Exit codes and usage errors: what every command needs, and nothing heavier than click."""

from __future__ import annotations

from typing import NoReturn

import click

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
"""0 nothing to report; 1 findings, changes that would be made, or a denied verdict; 2 usage
or input errors (they win over 1)."""


class UsageFailure(click.UsageError):
    """A usage error with exit code 2 and a plain message."""


def fail(message: str) -> NoReturn:
    raise UsageFailure(message)
