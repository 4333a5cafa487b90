"""netpol-fix: find why NetworkPolicy silently drops traffic, and write the fix."""

__version__ = "0.1.0"
