"""Rules: one module per cause of silent denial; the registry is in `registry`.

May import model, config, inventory, engine and fixes (to build a fix and compute what it
opens). This package initialiser stays empty so that `rules.base` can be imported without
loading every rule module first.
"""
