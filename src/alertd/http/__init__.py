"""The HTTP face of the daemon: inbound routes, REST API, replies, health."""
