"""The command line: one thin module per command, wiring options to the library.

May import every other package of netpol_fix (it is the top layer); nothing imports it.
Command modules import their dependencies when the command runs (see group.py), and no
module here holds semantics: that is the engine's, the rules' and the fixes' job.
"""

from netpol_fix.cli.group import main, run

__all__ = ["main", "run"]
