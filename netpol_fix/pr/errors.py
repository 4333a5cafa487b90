"""The one error `pr` raises past its modules; scrubbing lives in model/secrets.py.

Git and forge failures end as a clear message with exit code 2, never a traceback. Their
text comes from places we do not control (git's stderr, a server's error body, a URL the
user configured with credentials in it), so every message is scrubbed of the tokens we know
(raw, URL-encoded and base64, as git echoes an `http.extraheader`) and of credentials
embedded in URLs before anyone sees it.
"""

from __future__ import annotations

from collections.abc import Iterable

from netpol_fix.model.secrets import MASK, TOKEN_VARIABLES, known_secrets, scrub

__all__ = ["MASK", "TOKEN_VARIABLES", "PrError", "known_secrets", "scrub"]


class PrError(Exception):
    """A git or forge failure, already worded for the user; its text is scrubbed."""

    def __init__(self, message: str, extra_secrets: Iterable[str] = ()) -> None:
        super().__init__(scrub(message, extra_secrets))
