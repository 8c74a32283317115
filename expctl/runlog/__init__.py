"""expctl.runlog."""
