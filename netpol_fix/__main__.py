"""`python -m netpol_fix` is the same program as the `netpol-fix` console script."""

from netpol_fix.cli import run

if __name__ == "__main__":
    run()
