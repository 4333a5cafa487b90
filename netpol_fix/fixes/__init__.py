"""Fixes: building them (append.py: rules appended behind `test` guards; new_policy.py and
flow.py: per-workload policies and the narrowest fix for one flow), what they open
(effect.py), and applying them: the plan (plan.py), rounds until stable (rounds.py),
file edits (files.py) and the canonical JSON-patch entries (canonical.py).

May import model, config, yamledit, inventory and engine. Never the rules: a rule proposes
a fix with these helpers, and `fix` applies Findings (model data) without knowing rules.
"""
