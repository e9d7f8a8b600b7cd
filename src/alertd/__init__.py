"""alertd: self-hosted alert management and on-call notification daemon."""

from alertd.plugins import hookimpl

__all__ = ["__version__", "hookimpl"]
__version__ = "0.1.0"
