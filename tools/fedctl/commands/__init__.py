"""fedctl's command groups, one module each."""
