"""The `cairn` command line over the same core the desktop shell uses."""
