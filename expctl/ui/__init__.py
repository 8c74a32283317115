"""expctl.ui."""
