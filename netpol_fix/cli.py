"""Command line: parse options, call the library, pick an emitter. No semantics here."""

from __future__ import annotations

import click

from netpol_fix import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netpol-fix")
def main() -> None:
    """Find why Kubernetes NetworkPolicy silently drops traffic, and write the fix."""
