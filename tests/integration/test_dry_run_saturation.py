"""The dry-run flags runs whose detector would saturate (the attenuator choice matters)."""

from __future__ import annotations

import json
from pathlib import Path

from expctl.cli import main

ROOT = Path(__file__).resolve().parents[2]
PUMPPROBE = str(ROOT / "sequences" / "pumpprobe.yaml")
SMALL = ["--set", "spots_per_delay=1", "--set", "delays=[0 ps]"]


def test_an_unattenuated_reference_is_reported_at_its_run_step(tmp_path, capsys):
    """The old procedure (200 um for the reference, no attenuator for the pumped shot) puts
    ~1e8 Bragg photons of a perfect crystal on the MPCCD: both runs saturate."""
    assert main(["run", PUMPPROBE, "--dry-run", "--json", "--data-dir", str(tmp_path),
                 *SMALL, "--set", "weak_attenuator=200 um",
                 "--set", "strong_attenuator=0 um"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True  # a data-quality finding never blocks the run
    found = {w["message"].split(" (step")[0]: w for w in out["warnings"]}
    ref = found["mpccd saturates in run 'reference'"]
    assert ref["file"] == PUMPPROBE and ref["line"] == 46
    assert "300 of 300 rehearsed shots" in ref["message"]
    assert "Attenuate more" in ref["hint"]
    assert "mpccd saturates in run 'pumped'" in found
    main(["run", PUMPPROBE, "--dry-run", "--data-dir", str(tmp_path), *SMALL,
          "--set", "weak_attenuator=200 um"])
    text = capsys.readouterr().out
    assert "data-quality findings" in text and "mpccd saturates in run 'reference'" in text


def test_the_canonical_sequence_has_no_saturation_finding(tmp_path, capsys):
    assert main(["run", PUMPPROBE, "--dry-run", "--json", "--data-dir", str(tmp_path),
                 *SMALL]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []
