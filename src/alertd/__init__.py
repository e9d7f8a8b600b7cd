"""alertd: self-hosted alert management and on-call notification daemon."""

import pluggy

# The marker plugins decorate their hooks with (also alertd.plugin.hookimpl). Defined here, so that
# importing the package imports no other alertd module: no import cycle runs through the root.
hookimpl = pluggy.HookimplMarker("alertd")

__all__ = ["__version__", "hookimpl"]
__version__ = "0.1.0"
