"""Sources -> objects: reading files, streams and git revisions (sources.py, files.py,
texts.py, yaml_loader.py, git.py), recognising Kubernetes objects (kinds.py), validating
and parsing them (policies.py, selectors.py, build.py), and the CNI a set of objects
shows (cni.py), into one typed Inventory.

May import model, config and yamldata (the YAML loader, shared with the editor). The
engine, rules and fixes read what this builds; nothing here knows about them (the live
cluster reader is in cluster/, which builds on this).
"""
