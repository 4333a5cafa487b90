"""RFC 6901 JSON Pointer parsing, kept apart so every module agrees on escaping."""

from netpol_fix.yamledit.errors import EditError


def parse_pointer(pointer: str) -> list[str]:
    """Split a JSON Pointer into unescaped reference tokens (``~1`` is ``/``, ``~0`` is ``~``)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise EditError(f"invalid JSON Pointer {pointer!r}: must be empty or start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def format_pointer(tokens: list[str]) -> str:
    """Join tokens back into a pointer, for error messages."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)
