"""Atomic file replacement, so an interrupted run never leaves a half-written manifest, and
a concurrent edit is never overwritten.

A file is read once as bytes (`read_file`): its text, the encoding to write it back in
(UTF-8, or UTF-16/32 with the byte order mark it had) and a `Fingerprint` (size, mtime,
SHA-256) of what was read. `write_atomic` replaces it only if it still matches that
fingerprint, through a temporary file in the same folder that is fsynced and renamed over
the target; the temporary file is removed on every exit Python sees (an exception,
Ctrl-C, SIGTERM while writing), and stale ones of our own naming (`.NAME.XXXXXXXX.tmp`,
left by a SIGKILL) are removed the next time that file is written.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from netpol_fix.yamledit.errors import EditError

BOM = "\ufeff"

STALE_TEMP_SECONDS = 60.0
"""A temporary file of our naming older than this is a leftover of a killed run (a live
write holds its temporary file for milliseconds)."""


@dataclass(frozen=True)
class Encoding:
    """How a file's text is written back: the codec and the byte order mark it started
    with (UTF-8 keeps its BOM inside the text, as U+FEFF, so `bom` is empty for it)."""

    codec: str = "utf-8"
    bom: bytes = b""

    def encode(self, text: str) -> bytes:
        return self.bom + text.encode(self.codec)


UTF8 = Encoding()

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_bytes(raw: bytes) -> tuple[str, Encoding]:
    """The text of a file's bytes and the encoding to write it back in. UTF-16 and UTF-32
    are recognised by their BOM (as YAML 1.2 §5.2 requires); everything else must be UTF-8
    (a UTF-8 BOM stays in the text). Raises EditError for bytes that are neither."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                return raw[len(bom):].decode(codec), Encoding(codec, bom)
            except UnicodeDecodeError as exc:
                raise EditError(f"not valid {codec.upper()} text after its byte order mark "
                                f"(byte {exc.start + len(bom)})") from None
    try:
        return raw.decode("utf-8"), UTF8
    except UnicodeDecodeError as exc:
        raise EditError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start}); nothing written") from None


@dataclass(frozen=True)
class Fingerprint:
    """What a file held when it was read: a write checks the file still holds it."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, raw: bytes, info: os.stat_result) -> Fingerprint:
        return cls(len(raw), info.st_mtime_ns, hashlib.sha256(raw).hexdigest())


@dataclass(frozen=True)
class ReadFile:
    text: str
    encoding: Encoding
    fingerprint: Fingerprint


def read_file(path: str | os.PathLike[str]) -> ReadFile:
    """A file's text, encoding and fingerprint, from one read (OSError, EditError)."""
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        raw = handle.read()
    text, encoding = decode_bytes(raw)
    return ReadFile(text, encoding, Fingerprint.of(raw, info))


def _unchanged(target: str, expect: Fingerprint) -> bool:
    """True when `target` still holds exactly what `expect` describes. Size and mtime
    alone are not trusted (an edit within the mtime granularity keeps both)."""
    try:
        with open(target, "rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_size != expect.size or info.st_mtime_ns != expect.mtime_ns:
                return False
            return hashlib.sha256(handle.read()).hexdigest() == expect.sha256
    except FileNotFoundError:
        return False


def _temp_pattern(basename: str) -> re.Pattern[str]:
    """Our temporary files for `basename`: `tempfile.mkstemp`'s 8 random characters."""
    return re.compile(rf"\.{re.escape(basename)}\.[a-z0-9_]{{8}}\.tmp")


def remove_stale_temps(target: str, now: float | None = None) -> list[str]:
    """Remove leftovers of killed runs beside `target` (our naming, older than
    STALE_TEMP_SECONDS, regular files only); returns the paths removed."""
    folder = os.path.dirname(target) or "."
    pattern = _temp_pattern(os.path.basename(target))
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not pattern.fullmatch(name):
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_TEMP_SECONDS:
                os.unlink(path)
                removed.append(path)
    return removed


class Terminated(BaseException):
    """SIGTERM arrived while files were being written (raised so cleanup runs)."""


@contextlib.contextmanager
def terminate_cleanly() -> Iterator[None]:
    """While writing: SIGTERM and SIGHUP raise `Terminated`, so `finally` blocks remove
    temporary files; the previous handlers are restored after. Only in the main thread
    (signal handlers cannot be set elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def write_atomic(path: str | os.PathLike[str], text: str, *,
                 encoding: Encoding | None = None,
                 expect: Fingerprint | None = None) -> None:
    """Replace ``path`` with ``text`` in one rename.

    The text goes to a temporary file in the same folder, is fsynced, gets the old
    file's mode and ownership, and is renamed over the target; the folder is fsynced
    afterwards. A symlink is followed so the link itself survives (callers decide
    whether its target may be written). ``encoding`` is the one the file was read in
    (default UTF-8); without it, a UTF-8 BOM the file had is kept. With ``expect``, a
    file that no longer matches that fingerprint (edited since it was read) is not
    touched: EditError. Line endings are written exactly as they are in ``text``.
    Failures raise OSError or EditError; the target is then unchanged.
    """
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target) or "."
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    if expect is not None and (info is None or not _unchanged(target, expect)):
        raise EditError("changed since netpol-fix read it (size, mtime or content); the "
                        "fixes were planned on the old text, so it is left as it is; run "
                        "again")
    if encoding is None:
        encoding = UTF8
        if info is not None and not text.startswith(BOM):
            with open(target, "rb") as handle:
                if handle.read(3) == BOM.encode("utf-8"):
                    text = BOM + text
    try:
        data = encoding.encode(text)
    except UnicodeEncodeError as exc:
        raise EditError(f"the new text cannot be written in {encoding.codec} ({exc.reason})"
                        ) from None
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if info is not None:
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
            if (os.stat(tmp).st_uid, os.stat(tmp).st_gid) != (info.st_uid, info.st_gid):
                try:
                    os.chown(tmp, info.st_uid, info.st_gid)
                except PermissionError:
                    raise EditError(
                        f"cannot keep the file's owner {info.st_uid}:{info.st_gid}; "
                        "nothing written") from None
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        if expect is not None and not _unchanged(target, expect):
            raise EditError("changed while netpol-fix was writing it; left as it is; run "
                            "again")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
