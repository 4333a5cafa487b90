"""Kubernetes NetworkPolicy semantics, nothing else: the network of endpoints and the
policies that select them (network.py, label_index.py), one connection's verdict with its
trace (verdict.py), all-pairs connectivity (connectivity.py) and what changed between two
versions (changes.py, diff.py).

May import model, config and inventory. Knows nothing of files, rules, fixes or output.
"""
