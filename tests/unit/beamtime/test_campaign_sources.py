"""The journal's copy of a sequence: every included file, written back where includes
resolve, and the short diff shown when the file on disk was edited."""

from __future__ import annotations

from pathlib import Path

from expctl.beamtime.campaign import materialise, sequence_sources, source_changes
from expctl.devices.profile import load_profile
from expctl.sequence.load import load_sequence

ROOT = Path(__file__).resolve().parents[3]
MAIN = """name: outer
steps:
  - include: parts/inner.yaml
    params: {shots: 3}
"""
INNER = """name: inner
params:
  shots: 10
steps:
  - include: ../leaf.yaml
  - run: {shots: ${shots}, label: dark}
"""
LEAF = """name: leaf
steps:
  - close: xray_shutter
"""


def _write(root: Path) -> Path:
    (root / "parts").mkdir(parents=True)
    (root / "parts" / "inner.yaml").write_text(INNER)
    (root / "leaf.yaml").write_text(LEAF)
    main = root / "outer.yaml"
    main.write_text(MAIN)
    return main


def test_sources_hold_every_included_file_and_load_again_from_a_copy(tmp_path) -> None:
    profile = load_profile(ROOT / "sim" / "profiles" / "bl3.yaml")
    main = _write(tmp_path / "seq")
    loaded = load_sequence(main, profile)
    assert loaded.ok, loaded.errors
    sources = sequence_sources(main, loaded._doc())
    assert sources == {str(main.resolve()): MAIN,
                       str((tmp_path / "seq" / "parts" / "inner.yaml").resolve()): INNER,
                       str((tmp_path / "seq" / "leaf.yaml").resolve()): LEAF}
    assert source_changes(sources) == []
    copies = materialise(sources, tmp_path / "copy")
    again = load_sequence(copies[str(main.resolve())], profile)
    assert again.ok and again.report.runs == 1 and again.report.shots == 3


def test_an_edit_anywhere_shows_as_a_short_diff(tmp_path) -> None:
    profile = load_profile(ROOT / "sim" / "profiles" / "bl3.yaml")
    main = _write(tmp_path / "seq")
    sources = sequence_sources(main, load_sequence(main, profile)._doc())
    inner = tmp_path / "seq" / "parts" / "inner.yaml"
    inner.write_text(INNER.replace("shots: 10", "shots: 20"))
    (tmp_path / "seq" / "leaf.yaml").unlink()
    lines = source_changes(sources)
    assert f"--- {inner.resolve()} (as the campaign ran it)" in lines
    assert "-  shots: 10" in lines and "+  shots: 20" in lines
    assert lines[-1] == f"{(tmp_path / 'seq' / 'leaf.yaml').resolve()}: no longer readable " \
                        "(deleted or moved)"
