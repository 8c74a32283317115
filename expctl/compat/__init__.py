"""expctl.compat."""
