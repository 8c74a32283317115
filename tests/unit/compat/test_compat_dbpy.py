"""dbpy over a fake archive: names, argument order, return types and APIError texts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from expctl.compat import APIError, dbpy
from expctl.errors import DataError

HIGHTAG = 202601
SINGLE = "MPCCD-1N0-M01-001"

PD = "xfel_bl_3_tc_bm_2_pd/charge"
SHUTTER = "xfel_bl_3_shutter_1_open_valid/status"


def test_newest_run_and_status_codes(archive):
    assert dbpy.read_runnumber_newest(3) == 103
    assert dbpy.read_runstatus(3, 101) == 0
    assert dbpy.read_runstatus(3, 103) == 2
    assert dbpy.read_runstatus(3, 999) == -1
    assert dbpy.read_runstatus(1, 101) == -1


def test_newest_run_on_an_empty_beamline_is_an_api_error(archive):
    with pytest.raises(APIError, match="no run on BL2 yet"):
        dbpy.read_runnumber_newest(2)


def test_runinfo_has_the_facility_keys(archive):
    info = dbpy.read_runinfo(3, 102)
    assert set(info) >= {"starttime", "stoptime", "total_tagnumber", "start_tagnumber",
                         "end_tagnumber", "hightagnumber", "comment", "runtype",
                         "stationnumber", "runstatus"}
    assert info["total_tagnumber"] == 30
    assert info["end_tagnumber"] - info["start_tagnumber"] == 2 * 29
    assert info["hightagnumber"] == HIGHTAG
    assert info["comment"] == "weak beam"
    assert info["runstatus"] == 0
    assert info["stationnumber"] == 1
    assert info["stoptime"] > info["starttime"]


def test_runinfo_of_a_running_run_has_no_stoptime_and_tags_so_far(archive):
    info = dbpy.read_runinfo(3, 103)
    tags = dbpy.read_taglist_byrun(3, 103)
    assert info["runstatus"] == 2 and info["stoptime"] is None
    assert info["end_tagnumber"] == tags[-1]
    with pytest.raises(APIError, match=r"run 103 on BL3 has not stopped \(status 2\)"):
        dbpy.read_stoptime(3, 103)


def test_tags_come_as_a_tuple_of_ints_every_second_tag(archive):
    tags = dbpy.read_taglist_byrun(3, 101)
    assert isinstance(tags, tuple) and len(tags) == 20
    assert all(type(t) is int for t in tags)
    assert set(np.diff(tags)) == {2}
    assert dbpy.read_start_tagnumber(3, 101) == (HIGHTAG, tags[0])
    assert dbpy.read_end_tagnumber(3, 101) == (HIGHTAG, tags[-1])
    assert dbpy.read_hightagnumber(3, 101) == HIGHTAG


def test_simple_run_fields(archive):
    assert dbpy.read_comment(3, 101) == "dark"
    assert dbpy.read_starttime(3, 101) == pytest.approx(1.7e9 + 101)
    assert dbpy.read_stoptime(3, 101) == pytest.approx(1.7e9 + 102)
    assert dbpy.read_detidlist(3, 101) == (SINGLE,)
    assert dbpy.read_config_photonenergy(3, 101) == 10.0


@pytest.mark.parametrize("call", [
    lambda: dbpy.read_runinfo(3, 999),
    lambda: dbpy.read_hightagnumber(3, 999),
    lambda: dbpy.read_taglist_byrun(3, 999),
    lambda: dbpy.read_detidlist(3, 999),
    lambda: dbpy.read_comment(3, 999),
    lambda: dbpy.read_config_photonenergy(3, 999),
])
def test_unknown_run_is_an_api_error_naming_it(archive, call):
    with pytest.raises(APIError, match="no run 999 on BL3: run 999 was never started on BL3"):
        call()


def test_api_error_is_an_expctl_data_error_with_one_paragraph(archive):
    with pytest.raises(DataError) as err:
        dbpy.read_runinfo(3, 999)
    assert err.value.paragraph() == "no run 999 on BL3: run 999 was never started on BL3"
    assert err.value.exit_code == 1


def test_syncdatalist_float_in_tag_order(archive):
    tags = dbpy.read_taglist_byrun(3, 102)
    values = dbpy.read_syncdatalist_float(PD, HIGHTAG, tags[::-1])
    assert isinstance(values, tuple) and all(type(v) is float for v in values)
    first = tags[0]
    assert values == tuple(10.0 + (t - first) / 1000.0 for t in tags[::-1])


def test_syncdatalist_strings_carry_units_and_parse_back(archive):
    tags = dbpy.read_taglist_byrun(3, 102)[:3]
    strings = dbpy.read_syncdatalist(PD, HIGHTAG, tags)
    assert strings == ("10.0pC", "10.002pC", "10.004pC")
    floats = dbpy.read_syncdatalist_float(PD, HIGHTAG, tags)
    assert tuple(float(s.removesuffix("pC")) for s in strings) == floats
    assert dbpy.read_syncdatalist(SHUTTER, HIGHTAG, tags) == ("1", "1", "1")
    assert dbpy.read_syncdatalist("xfel_bl_3_st_2_motor_1/position", HIGHTAG, tags[:1]) == (
        "11.4deg",)


def test_not_converged_and_saturated_readings(archive):
    tags = np.array(dbpy.read_taglist_byrun(3, 101)[:2])
    archive.sync[PD] = (tags, np.array([math.nan, math.inf]))
    assert dbpy.read_syncdatalist(PD, HIGHTAG, tuple(tags)) == ("not-converged", "saturated")
    got = dbpy.read_syncdatalist_float(PD, HIGHTAG, tuple(tags))
    assert math.isnan(got[0]) and got[1] == math.inf


def test_sync_reads_accept_lists_arrays_and_nothing(archive):
    tags = dbpy.read_taglist_byrun(3, 101)[:4]
    expected = dbpy.read_syncdatalist_float(PD, HIGHTAG, tags)
    assert dbpy.read_syncdatalist_float(PD, HIGHTAG, list(tags)) == expected
    assert dbpy.read_syncdatalist_float(PD, HIGHTAG, np.array(tags, np.uint32)) == expected
    assert dbpy.read_syncdatalist_float(PD, HIGHTAG, ()) == ()


@pytest.mark.parametrize(("equip", "hightag", "tags", "message"), [
    (PD, HIGHTAG, (5,), f"{PD} at high tag {HIGHTAG}: tag 5 was never recorded"),
    ("xfel_bl_3_nothing/x", HIGHTAG, (5,),
     "xfel_bl_3_nothing/x at high tag 202601: unknown equipment 'xfel_bl_3_nothing/x'"),
    (PD, 201101, (5,), f"{PD} at high tag 201101: no data under high tag 201101"),
    (PD, HIGHTAG, "1000000", "tags must be a sequence of integer tags, got str"),
    (PD, HIGHTAG, (1.5,), "tags must be a sequence of integer tags, got tuple"),
])
def test_bad_sync_reads_are_api_errors(archive, equip, hightag, tags, message):
    with pytest.raises(APIError) as err:
        dbpy.read_syncdatalist_float(equip, hightag, tags)
    assert err.value.paragraph() == message


def test_non_integer_beamline_is_refused(archive):
    with pytest.raises(APIError, match="beamline must be an integer, got 'BL3'"):
        dbpy.read_runinfo("BL3", 101)


def test_equiplist_is_sorted_and_complete(archive):
    assert dbpy.read_equiplist() == tuple(sorted(archive.info))


def test_a_new_run_shows_up_on_the_next_poll(archive):
    assert dbpy.read_runnumber_newest(3) == 103
    archive.add_run(3)
    assert dbpy.read_runnumber_newest(3) == 104
    assert dbpy.read_runstatus(3, 104) == 0
