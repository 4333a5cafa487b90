"""`netpol-fix pr`: the fixes as one branch and one pull request that reruns keep current.

git.py drives git (a throwaway worktree, commit without a local branch, guarded push);
body.py writes the title, body and fingerprint; github.py and gitlab.py talk to the forges
over plain HTTP (http.py); command.py puts them together behind the click command.

May import model, config, yamledit, inventory, engine, fixes, rules and emit. Only cli
imports it.
"""
