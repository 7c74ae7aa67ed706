"""Privacy: how long personal data is kept (the retention prune)."""
