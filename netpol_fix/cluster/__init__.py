"""The live cluster: the kubeconfig, reading objects (`--cluster`), applying guarded JSON
patches (`apply`), retries and the API server's defaults.

May import model, inventory, config and the fix data it applies (model.findings); the
kubernetes client is imported only by the modules that talk to a server, when they run.
Only cli imports this package.
"""
