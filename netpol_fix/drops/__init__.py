"""Observed drops: flow records from the dataplane (Hubble, cilium monitor, Calico flow
logs) read line by line, resolved to the workloads of the sources, grouped, and explained
with the engine's verdict. formats.py parses one line, read.py streams lines from files,
gzip and stdin, resolve.py maps flow endpoints to workloads, group.py counts, explain.py
classifies each group (explained, explicit deny, not explained, enforcement gap),
fixes.py merges the groups' fixes into one run, render.py writes text, JSON, Markdown and
SARIF (here rather than in emit/, which sits below drops in the layering).

May import model, config, inventory, engine, yamledit, fixes, rules and emit; only the CLI
imports it.
"""
