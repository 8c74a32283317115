"""expctl.shell."""
