"""fedctl: the command-line client of the federation."""
