"""The one error `pr` raises past its modules, and token scrubbing.

Git and forge failures end as a clear message with exit code 2, never a traceback. Their
text comes from places we do not control (git's stderr, a server's error body, a URL the
user configured with credentials in it), so every message is scrubbed of the tokens we know
and of credentials embedded in URLs before anyone sees it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

TOKEN_VARIABLES = ("GITHUB_TOKEN", "GITLAB_TOKEN")
MASK = "***"
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def known_secrets(extra: Iterable[str] = ()) -> list[str]:
    """Every token value this process could leak: the environment's and any passed in."""
    values = [os.environ.get(name, "") for name in TOKEN_VARIABLES] + list(extra)
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """`text` without any known token and without `user:password@` in URLs."""
    for secret in known_secrets(extra):
        text = text.replace(secret, MASK)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


class PrError(Exception):
    """A git or forge failure, already worded for the user; its text is scrubbed."""

    def __init__(self, message: str, extra_secrets: Iterable[str] = ()) -> None:
        super().__init__(scrub(message, extra_secrets))
