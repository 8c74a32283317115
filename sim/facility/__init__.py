"""Facility services: tag time line, persistent run table and sync DB, the archive readers use."""

from sim.facility.archive import SimArchive
from sim.facility.store import FacilityStore
from sim.facility.timeline import Timeline

__all__ = ["FacilityStore", "SimArchive", "Timeline"]
