"""Operating at beamtime: one controller per beamline, the sample registry, campaigns
(what resume continues) and rehearsed faults — shared state kept in the data directory."""
