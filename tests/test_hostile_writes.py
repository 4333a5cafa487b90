"""Writes that survive the file system, and never land outside what was asked (issue 15).

Each case is a defect found by fuzzing `fix` and `pr` the way hostile or messy trees arrive:
one unwritable file, a file edited while `fix` runs, UTF-16/32 and CR-only files, stray
temporary files of a killed run, symlinks out of the tree.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from netpol_fix.cli import main
from netpol_fix.inventory.sources import clear_text_cache
from netpol_fix.yamledit import EditError, atomic
from netpol_fix.yamledit.atomic import Fingerprint, read_file, write_atomic
from tests.pr.conftest import REPO

SHOP = REPO / "examples" / "shop"


def run(*args: str) -> tuple[int, str, str]:
    clear_text_cache()
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def shop(tmp_path: Path, name: str = "tree") -> Path:
    tree = tmp_path / name
    shutil.copytree(SHOP, tree)
    return tree


def fixed_texts(tmp_path: Path) -> dict[str, str]:
    """What `fix` writes for the plain UTF-8 shop (the reference for other encodings)."""
    tree = shop(tmp_path, "reference")
    run("fix", str(tree))
    return {p.name: p.read_text() for p in sorted(tree.iterdir())}


# -- one file's failure is that file's error ----------------------------------------------

@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"),
                                         (errno.ENOSPC, "no space left on device")])
def test_one_unwritable_file_does_not_stop_the_others(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      code: int, words: str) -> None:
    """README: "the other files still get theirs, and the exit code is 2"."""
    expected = fixed_texts(tmp_path)
    tree = shop(tmp_path)
    real_mkstemp = atomic.tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        if str(kwargs.get("prefix", "")).startswith(".namespaces.yaml."):
            raise OSError(code, os.strerror(code))
        return real_mkstemp(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    status, _, err = run("fix", str(tree))
    assert status == 2
    assert f"{tree / 'namespaces.yaml'}: error: cannot write: {words}; file left unchanged" \
        in err
    assert "Traceback" not in err
    assert (tree / "namespaces.yaml").read_bytes() == (SHOP / "namespaces.yaml").read_bytes()
    # files sorted after it get theirs too
    for name in ("netpol.yaml", "payments-netpol.yaml"):
        assert (tree / name).read_text() == expected[name]
        assert expected[name] != (SHOP / name).read_text()
    assert sorted(p.name for p in tree.iterdir()) == sorted(p.name for p in SHOP.iterdir())


def test_owner_that_cannot_be_kept_is_that_files_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    tree = shop(tmp_path)
    real_stat = os.stat

    def chown(path: str, uid: int, gid: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    def fake_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        info = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if str(path).endswith("netpol.yaml") and not str(path).endswith("payments-netpol.yaml"):
            values = list(info)
            values[5] = info.st_gid + 1  # another group than a new file gets
            return os.stat_result(values)
        return info

    monkeypatch.setattr(atomic.os, "chown", chown)
    monkeypatch.setattr(atomic.os, "stat", fake_stat)
    status, _, err = run("fix", str(tree))
    assert status == 2
    assert "netpol.yaml: error: cannot write: cannot keep the file's owner" in err
    assert (tree / "netpol.yaml").read_text() == (SHOP / "netpol.yaml").read_text()
    assert (tree / "payments-netpol.yaml").read_text() != \
        (SHOP / "payments-netpol.yaml").read_text()
    assert not [p for p in tree.iterdir() if p.name.endswith(".tmp")]


# -- lost updates -------------------------------------------------------------------------

def test_file_edited_while_fix_runs_is_not_overwritten(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Before replacing a file, it must still hold the text the fix was planned on."""
    tree = shop(tmp_path)
    from netpol_fix.cli import fix as fix_command

    real = fix_command.write_results

    def edit_then_write(results: object) -> object:
        path = tree / "netpol.yaml"
        path.write_text(path.read_text() + "# edited by someone else\n")
        return real(results)  # type: ignore[arg-type]

    monkeypatch.setattr(fix_command, "write_results", edit_then_write)
    status, _, err = run("fix", str(tree))
    assert status == 2
    assert "netpol.yaml: error: cannot write: changed since netpol-fix read it" in err
    assert (tree / "netpol.yaml").read_text().endswith("# edited by someone else\n")
    assert (tree / "payments-netpol.yaml").read_text() != \
        (SHOP / "payments-netpol.yaml").read_text()


def test_same_size_and_mtime_but_other_bytes_is_a_change(tmp_path: Path) -> None:
    """An edit within the mtime granularity keeps size and mtime: the hash decides."""
    target = tmp_path / "np.yaml"
    target.write_text("a: 1\n")
    read = read_file(target)
    info = os.stat(target)
    target.write_text("a: 9\n")
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    with pytest.raises(EditError, match="changed since netpol-fix read it"):
        write_atomic(target, "a: 2\n", expect=read.fingerprint)
    assert target.read_text() == "a: 9\n"
    write_atomic(target, "a: 2\n", expect=read_file(target).fingerprint)
    assert target.read_text() == "a: 2\n"


def test_fingerprint_of_a_deleted_file_refuses(tmp_path: Path) -> None:
    target = tmp_path / "np.yaml"
    target.write_text("a: 1\n")
    fingerprint = read_file(target).fingerprint
    target.unlink()
    with pytest.raises(EditError):
        write_atomic(target, "a: 2\n", expect=fingerprint)
    assert not target.exists()
    assert isinstance(fingerprint, Fingerprint)


# -- temporary files ----------------------------------------------------------------------

def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    """A SIGKILL leaves `.NAME.XXXXXXXX.tmp`; the next write of NAME removes it (if older
    than a live write could be), scan never reads it (hidden)."""
    tree = shop(tmp_path)
    stale = tree / ".netpol.yaml.k2j4x9_a.tmp"
    fresh = tree / ".netpol.yaml.q8w7e6r5.tmp"
    other = tree / ".netpol.yaml.notours.tmp"
    for path in (stale, fresh, other):
        path.write_text("half a manifest: [\n")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    status, _, err = run("scan", str(tree))
    assert "half a manifest" not in err and status == 1
    run("fix", str(tree))
    assert not stale.exists()
    assert fresh.exists() and other.exists()


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from netpol_fix.fixes.files import FileResult, write_results

    target = tmp_path / "np.yaml"
    target.write_text("a: 1\n")
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(atomic.Terminated):
        write_results([FileResult(str(target), "a: 1\n", "a: 2\n")])
    assert signal.getsignal(signal.SIGTERM) == previous
    assert target.read_text() == "a: 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["np.yaml"]


# -- encodings and line endings -----------------------------------------------------------

@pytest.mark.parametrize("codec, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                        ("utf-32-le", b"\xff\xfe\x00\x00"),
                                        ("utf-32-be", b"\x00\x00\xfe\xff")])
def test_utf16_and_utf32_files_are_fixed_in_their_own_encoding(tmp_path: Path, codec: str,
                                                               bom: bytes) -> None:
    """YAML 1.2 §5.2: a stream may be UTF-16 or UTF-32, told by its byte order mark.
    scan reads these files, so fix must be able to write them back as they were."""
    expected = fixed_texts(tmp_path)
    tree = shop(tmp_path)
    for path in tree.iterdir():
        path.write_bytes(bom + path.read_text().encode(codec))
    status, _, err = run("fix", str(tree))
    assert "Traceback" not in err and "error" not in err, err
    assert status == 1  # as for UTF-8: unsafe fixes remain
    for path in tree.iterdir():
        raw = path.read_bytes()
        assert raw.startswith(bom)
        assert raw[len(bom):].decode(codec) == expected[path.name]


def test_cr_only_files_are_fixed_with_cr_line_endings(tmp_path: Path) -> None:
    """YAML 1.2 §5.4: a lone CR is a line break; the fixed file keeps CR line breaks."""
    expected = fixed_texts(tmp_path)
    tree = shop(tmp_path)
    for path in tree.iterdir():
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    status, _, err = run("fix", str(tree))
    assert "error" not in err, err
    assert status == 1
    for path in tree.iterdir():
        raw = path.read_bytes()
        assert b"\n" not in raw
        assert raw.decode() == expected[path.name].replace("\n", "\r")


# -- never outside what was asked ---------------------------------------------------------

def outside_link(tmp_path: Path) -> tuple[Path, Path]:
    tree = shop(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.yaml"
    (tree / "netpol.yaml").rename(victim)
    (tree / "link.yaml").symlink_to(Path("..") / "outside" / "victim.yaml")
    return tree, victim


def test_symlink_out_of_the_tree_is_not_written(tmp_path: Path) -> None:
    tree, victim = outside_link(tmp_path)
    before = victim.read_bytes()
    status, _, err = run("fix", str(tree))
    assert status == 2
    assert f"{tree / 'link.yaml'}: error: cannot edit: not written: a symlink to {victim}, " \
           "outside the SOURCES (--write-outside-sources writes it anyway)" in err
    assert victim.read_bytes() == before
    # the files inside still get their fixes
    assert (tree / "payments-netpol.yaml").read_text() != \
        (SHOP / "payments-netpol.yaml").read_text()
    status, out, err = run("fix", "--dry-run", str(tree))
    assert "link.yaml" not in out and status == 2
    assert victim.read_bytes() == before


def test_symlink_out_of_the_tree_with_the_opt_in_is_written(tmp_path: Path) -> None:
    tree, victim = outside_link(tmp_path)
    before = victim.read_bytes()
    status, _, err = run("fix", "--write-outside-sources", str(tree))
    assert "error" not in err and status == 1
    assert (tree / "link.yaml").is_symlink() and victim.read_bytes() != before


def test_symlink_inside_the_tree_is_written_through(tmp_path: Path) -> None:
    tree = shop(tmp_path)
    (tree / "real").mkdir()
    (tree / "netpol.yaml").rename(tree / "real" / ".hidden-netpol.yaml")
    (tree / "netpol.yaml").symlink_to(Path("real") / ".hidden-netpol.yaml")
    status, _, err = run("fix", str(tree))
    assert "error" not in err and status == 1
    assert (tree / "netpol.yaml").is_symlink()
    assert (tree / "real" / ".hidden-netpol.yaml").read_text() != \
        (SHOP / "netpol.yaml").read_text()


def test_symlinked_directories_are_skipped_and_said(tmp_path: Path) -> None:
    """Directory symlinks are not followed, for reading as for writing, with a warning."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "linked").symlink_to(SHOP, target_is_directory=True)
    shutil.copy(SHOP / "namespaces.yaml", tree / "namespaces.yaml")
    status, _, err = run("fix", str(tree))
    assert f"{tree / 'linked'}: warning: symlinked directory (to {SHOP}) not followed" in err
    assert status == 0


def test_mixed_cr_and_lf_line_endings_are_refused_clearly(tmp_path: Path) -> None:
    """A lone CR among LF lines: YAML reads both as line breaks, the editor's line
    arithmetic would not; the file is refused with a message, the others are fixed."""
    tree = shop(tmp_path)
    raw = (tree / "netpol.yaml").read_bytes()
    (tree / "netpol.yaml").write_bytes(raw.replace(b"\n", b"\r", 1))
    status, _, err = run("fix", str(tree))
    assert status == 2
    assert "netpol.yaml: error: cannot edit: line 1 ends with a lone CR while other lines " \
           "end with LF" in err
    assert (tree / "netpol.yaml").read_bytes() == raw.replace(b"\n", b"\r", 1)
    assert (tree / "payments-netpol.yaml").read_text() != \
        (SHOP / "payments-netpol.yaml").read_text()
