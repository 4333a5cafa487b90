"""Flow lines from files, gzip files and stdin, one at a time (memory does not grow with
the input), with bad input counted instead of raised.

Gzip is recognised by its magic bytes (1f 8b), not by the name: `hubble observe ... |
gzip > x` keeps whatever name the user gave. A truncated gzip file, or a stream cut in the
middle of a line, ends the input cleanly with what was read, and says so. `follow` keeps
reading a file that grows (tail -f) or a pipe until it closes.
"""

from __future__ import annotations

import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from netpol_fix.drops.formats import ObservedFlow, UnknownLine, parse_line

GZIP_MAGIC = b"\x1f\x8b"
GZIP_WBITS = 16 + zlib.MAX_WBITS
CHUNK = 1 << 16
PRETTY_LIMIT = 10_000
STDIN = "-"
POLL_SECONDS = 0.25


class FlowInputError(OSError):
    """A flow file that cannot be opened at all (exit 2)."""


@dataclass
class BadLines:
    """Lines that were no flow: a count per kind, and where each kind was first seen."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """One-off messages: a truncated gzip, a cut last line."""
    errors: list[str] = field(default_factory=list)
    """Inputs that could not be read at all (exit 2; the other inputs are still read)."""

    def add(self, kind: str, file: str, line: int, detail: str = "") -> bool:
        """Count one; True when this kind is new (the caller reports it once)."""
        new = kind not in self.counts
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if new:
            self.first[kind] = (file, line, detail)
        return new

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def message(self, kind: str) -> str:
        file, line, detail = self.first[kind]
        extra = f" ({detail})" if detail else ""
        return f"{file}:{line}: warning: not a flow of a known format: {kind}{extra}"

    def summary(self) -> list[str]:
        return [f"{count} line(s): {kind} (first at {self.first[kind][0]}:"
                f"{self.first[kind][1]})" for kind, count in self.counts.items()]


def _open_binary(path: str) -> IO[bytes]:
    if path == STDIN:
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as err:
        raise FlowInputError(f"{path}: error: cannot read flows: {err.strerror or err}") \
            from None


def _chunks(raw: IO[bytes], path: str, notes: list[str], follow: bool,
            stop: Callable[[], bool] | None) -> Iterator[bytes]:
    """The input's bytes as they arrive, gunzipped when it starts with the gzip magic
    (several gzip members one after another, as `gzip >>` appends them, are read in turn).
    Decompressing here rather than through GzipFile keeps every byte before a truncation
    or a corrupt block."""
    read = getattr(raw, "read1", raw.read)
    unzip: Any = None
    first = True
    while True:
        data = read(CHUNK)
        if not data:
            if follow and path != STDIN and not (stop and stop()):
                time.sleep(POLL_SECONDS)
                continue
            if unzip is not None and not unzip.eof:
                notes.append(f"{path}: warning: compressed input ends early (truncated "
                             "gzip); what was read is analysed")
            return
        if first:
            first = False
            if data[:2] == GZIP_MAGIC:
                unzip = zlib.decompressobj(GZIP_WBITS)
        if unzip is None:
            yield data
            continue
        try:
            out = b""
            while data:
                if unzip.eof:
                    unzip = zlib.decompressobj(GZIP_WBITS)
                out += unzip.decompress(data)
                data = unzip.unused_data if unzip.eof else b""
        except zlib.error as err:
            if out:
                yield out
            notes.append(f"{path}: warning: compressed input ends early (corrupt gzip: "
                         f"{err}); what was read before is analysed")
            return
        if out:
            yield out


def iter_lines(path: str, notes: list[str], follow: bool = False,
               stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line as soon as it is complete; the last line may
    lack its newline (a cut stream). With `follow` a regular file is polled for growth
    until `stop()`, and a line being written is held until its newline arrives."""
    raw = _open_binary(path)
    number = 0
    pending = b""
    try:
        for chunk in _chunks(raw, path, notes, follow, stop):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                number += 1
                yield number, line.decode("utf-8", errors="replace") + "\n"
        if pending:
            yield number + 1, pending.decode("utf-8", errors="replace")
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def read_flows(paths: list[str], bad: BadLines, follow: bool = False,
               on_bad: Callable[[str], None] | None = None,
               stop: Callable[[], bool] | None = None) -> Iterator[ObservedFlow]:
    """Every flow of every input in order; bad lines go to `bad` (and the first of each
    kind to `on_bad`). A last line without its newline that does not parse is a cut
    stream, said once in `bad.notes`. Each flow is yielded as soon as its line is read,
    so `follow` reports without waiting for the next line."""
    for path in paths:
        shown = "<stdin>" if path == STDIN else path
        pretty = _Pretty()
        try:
            for number, text in iter_lines(path, bad.notes, follow, stop):
                if pretty.lines or text.rstrip("\r\n") == "{":
                    whole = pretty.add(number, text)
                    if whole is None:
                        continue
                    number, text = whole
                flow = _parse(shown, number, text, bad, on_bad)
                if flow is not None:
                    yield flow
            if pretty.lines:
                # an object never closed: the input ended inside it
                bad.notes.append(f"{shown}:{pretty.start}: warning: the input ends inside a "
                                 "multi-line JSON object; it was left out")
        except FlowInputError as err:
            bad.errors.append(str(err))
            if on_bad is not None:
                on_bad(str(err))


class _Pretty:
    """Pretty-printed JSON objects (`hubble observe -o json | jq .`): from a line that is
    only `{` to the line that is only `}`, joined into one line. Bounded: an object of more
    than PRETTY_LIMIT lines is given up (its lines are then reported as they are)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.start = 0

    def add(self, number: int, text: str) -> tuple[int, str] | None:
        if not self.lines:
            self.start = number
        self.lines.append(text.strip())
        if text.rstrip("\r\n") == "}" or len(self.lines) > PRETTY_LIMIT:
            whole = "".join(self.lines) + "\n"
            self.lines = []
            return self.start, whole
        return None


def _parse(file: str, number: int, text: str, bad: BadLines,
           on_bad: Callable[[str], None] | None) -> ObservedFlow | None:
    try:
        return parse_line(text)
    except UnknownLine as err:
        if not text.endswith("\n") and text.strip():
            # only the last line of an input lacks its newline: a cut stream
            bad.notes.append(f"{file}:{number}: warning: the input ends in the middle of a "
                             "line; that line was left out")
            return None
        if bad.add(err.kind, file, number, err.detail) and on_bad is not None:
            on_bad(bad.message(err.kind))
        return None
