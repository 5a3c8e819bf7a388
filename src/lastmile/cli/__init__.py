"""The `lastmile` command line."""
