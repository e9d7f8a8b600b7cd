"""The web console: pages, sessions and the live view (``[web]``); see ``console``."""
