"""expctl.analysis."""
