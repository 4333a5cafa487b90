"""Fixes: canonical JSON patches, what they open, and applying them to files."""
