"""Atomic file replacement, so an interrupted run never leaves a half-written manifest."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from netpol_fix.yamledit.errors import EditError

BOM = "\ufeff"


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) in one rename.

    The text goes to a temporary file in the same folder, is fsynced, gets the old
    file's mode and ownership, and is renamed over the target; the folder is fsynced
    afterwards. A symlink is followed so the link itself survives. If the existing file
    starts with a BOM and ``text`` does not, the BOM is kept. Line endings are written
    exactly as they are in ``text``.
    """
    target = os.path.realpath(os.fspath(path))
    folder = os.path.dirname(target) or "."
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    if info is not None and not text.startswith(BOM):
        with open(target, "rb") as handle:
            if handle.read(3) == BOM.encode("utf-8"):
                text = BOM + text
    data = text.encode("utf-8")
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
                except PermissionError as exc:
                    raise EditError(
                        f"{target}: cannot keep the file's owner {info.st_uid}:{info.st_gid}; "
                        "nothing written") from exc
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
