"""alertd: self-hosted alert management and on-call notification daemon."""

__all__ = ["__version__", "hookimpl"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``hookimpl``: the marker plugins decorate their hooks with (also alertd.plugin.hookimpl).
    # Defined here, so that importing the package imports no other alertd module (no import cycle
    # runs through the root), and made on first use, so that `alertd --version` imports no pluggy.
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("alertd")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module 'alertd' has no attribute {name!r}")
