"""expctl.plans."""
