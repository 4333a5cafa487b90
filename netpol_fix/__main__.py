"""`python -m netpol_fix` is the same program as the `netpol-fix` console script."""

from netpol_fix.cli import main

if __name__ == "__main__":
    main()
