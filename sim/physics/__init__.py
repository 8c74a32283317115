"""Simulated XFEL beamline."""
