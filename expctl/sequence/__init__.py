"""expctl.sequence."""
