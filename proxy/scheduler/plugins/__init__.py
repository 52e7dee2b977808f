"""Built-in filter and score plugins, one per module."""
