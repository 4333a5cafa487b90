"""Output formats: findings as text, JSON and SARIF (with fix edits), explain's verdicts,
connectivity lists and connectivity diffs, fix diffs.

May import model, config, yamledit, inventory, engine, fixes and rules. Only cli and pr
import it.
"""
