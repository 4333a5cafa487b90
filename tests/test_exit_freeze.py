"""The CLI freezes the heap at exit (cli/group.py): a network with policy tiers is a
reference cycle holding the inventory, and CPython's last full collection at exit walked it
(1.0 s of the 5,000-workload kinds bench's scan, README "Other policy kinds")."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_heap_is_frozen_once_at_exit_after_the_command_ran() -> None:
    """atexit runs handlers last-in first-out: a handler registered before main runs after
    main's, and sees the frozen heap; main run twice in one process registers one hook."""
    script = textwrap.dedent("""
        import atexit, gc
        atexit.register(lambda: print("frozen", gc.get_freeze_count() > 0))
        before = atexit._ncallbacks()
        from netpol_fix.cli import main
        for _ in range(2):
            try:
                main(["rules"], standalone_mode=False)
            except SystemExit:
                pass
        print("hooks", atexit._ncallbacks() - before)
        print("alive", gc.get_freeze_count())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    lines = done.stdout.splitlines()
    assert "hooks 1" in lines
    assert "alive 0" in lines  # nothing frozen while the program runs
    assert lines[-1] == "frozen True"
