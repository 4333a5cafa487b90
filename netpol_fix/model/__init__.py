"""Plain typed data that every layer shares: objects read from the sources (objects.py),
parsed NetworkPolicies (policy.py), label selectors (selectors.py), connection sets
(connset.py), and what rules find and propose (findings.py).

May import nothing of netpol_fix but itself: it is the bottom layer. No parsing and no
semantics beyond what a value is (a selector matches labels, a ConnSet unions).
"""
