"""Per-triggerer-loop services: the channel watcher, the Socket Mode listener and the click handler."""
