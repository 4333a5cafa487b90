"""The credentials this process holds, and scrubbing them out of any text shown to a user.

A server's error body, git's stderr or a library's exception can echo a credential: the
API server's `401: Unauthorized: Bearer <token>`, git printing an `http.extraheader`
(`Authorization: Basic base64(user:token)`), a URL with the token in its query. So every
message that may carry text from elsewhere goes through `scrub`, which removes each known
secret in its raw form, URL-encoded, and base64-encoded at any alignment (a secret inside a
longer base64 string, such as `user:token`, shows up there as one of three shifted
encodings; the characters that depend only on the secret are masked).

Secrets are registered when they are loaded (the forge token from the environment, the
kubeconfig's token, password and client key); plain data, so every layer may use it.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.parse
from collections.abc import Iterable

TOKEN_VARIABLES = ("GITHUB_TOKEN", "GITLAB_TOKEN")
MASK = "***"
MIN_SECRET = 4
"""Shorter values are not scrubbed: masking every `t` or `ab` would garble messages."""
_MIN_ENCODED = 6
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_PEM_BODY = re.compile(r"^[A-Za-z0-9+/=]{16,}$", re.MULTILINE)

_registered: set[str] = set()


def register_secret(value: object) -> None:
    """Remember a credential so that `scrub` removes it (and its encodings) everywhere.
    A PEM key is registered whole and line by line, so a fragment of it is masked too."""
    if not isinstance(value, str) or len(value) < MIN_SECRET:
        return
    _registered.add(value)
    if value.startswith("Bearer "):
        _registered.add(value.removeprefix("Bearer "))
    if "-----BEGIN" in value:
        _registered.update(m.group(0) for m in _PEM_BODY.finditer(value))


def forget_secrets() -> None:
    """Forget registered secrets (tests)."""
    _registered.clear()


def _base64_cores(secret: bytes) -> set[str]:
    """The parts of base64(X + secret + Y) that depend only on `secret`, for the three
    alignments of `secret` within the encoded bytes; standard and URL-safe alphabets."""
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode()
        first = -(-8 * shift // 6)  # the first character holding no bit of the padding
        last = 8 * (shift + len(secret)) // 6  # past the last one holding only the secret
        core = encoded[first:last]
        if len(core) >= _MIN_ENCODED:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def _forms(secret: str) -> set[str]:
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
             urllib.parse.quote(secret)}
    forms |= _base64_cores(secret.encode("utf-8"))
    return {f for f in forms if len(f) >= MIN_SECRET}


def known_secrets(extra: Iterable[str] = ()) -> list[str]:
    """Every form of every secret this process could leak, longest first."""
    values = {os.environ.get(name, "") for name in TOKEN_VARIABLES} | _registered | set(extra)
    forms: set[str] = set()
    for value in values:
        if len(value) >= MIN_SECRET:
            forms |= _forms(value)
    return sorted(forms, key=len, reverse=True)


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """`text` without any known secret (raw, URL-encoded, base64) and without
    `user:password@` in URLs."""
    for secret in known_secrets(extra):
        if secret in text:
            text = text.replace(secret, MASK)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
