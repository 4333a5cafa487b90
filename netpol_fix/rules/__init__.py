"""Rules: one module per cause of silent denial; the registry is in `registry`.

This package initialiser stays empty so that `rules.base` and `rules.context` can be
imported (by fixes/effect.py, say) without loading every rule module first.
"""
