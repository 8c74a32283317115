"""expctl.engine."""
