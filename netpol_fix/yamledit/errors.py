"""The one exception type the YAML editor raises."""


class EditError(Exception):
    """An edit was refused or failed; nothing was written.

    Raised for templates, files that do not parse, anchors/aliases/merge keys on the
    edited path, duplicate keys, failing ``test`` operations and unsupported layouts.
    The message names the reason and, where known, the line (1-based).
    """
