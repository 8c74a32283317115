"""expctl.testing."""
