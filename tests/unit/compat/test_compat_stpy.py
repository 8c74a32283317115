"""stpy over a fake archive: readers, buffers, frame arrays, det_info keys, APIError texts."""

from __future__ import annotations

import numpy as np
import pytest

from expctl.compat import APIError, dbpy, stpy

SINGLE = "MPCCD-1N0-M01-001"


def test_stpy_and_dbpy_share_one_api_error():
    assert stpy.APIError is dbpy.APIError is APIError


def test_collect_and_read_det_data_gives_a_fresh_2d_float_array(archive):
    tags = dbpy.read_taglist_byrun(3, 102)
    reader = stpy.StorageReader(SINGLE, 3, (102,))
    buf = stpy.StorageBuffer(reader)
    reader.collect(buf, tags[4])
    img = buf.read_det_data(0)
    assert img.shape == (64, 32) and img.dtype == np.float32
    expected = archive.frames(SINGLE, 3, 102, np.array([tags[4]]))[0]
    np.testing.assert_array_equal(img, expected)
    img -= 100.0  # scripts subtract darks in place: the buffer must not change
    np.testing.assert_array_equal(buf.read_det_data(0), expected)


def test_same_tag_reads_the_same_image_and_other_tags_differ(archive):
    tags = dbpy.read_taglist_byrun(3, 101)
    reader = stpy.StorageReader(SINGLE, 3, (101,))
    buf = stpy.StorageBuffer(reader)
    reader.collect(buf, tags[0])
    first = buf.read_det_data(0)
    reader.collect(buf, tags[1])
    second = buf.read_det_data(0)
    reader.collect(buf, tags[0])
    np.testing.assert_array_equal(buf.read_det_data(0), first)
    assert not np.array_equal(first, second)


def test_reader_over_several_runs_finds_each_tag_in_its_run(archive):
    dark, weak = dbpy.read_taglist_byrun(3, 101), dbpy.read_taglist_byrun(3, 102)
    reader = stpy.StorageReader(SINGLE, 3, (101, 102))
    buf = stpy.StorageBuffer(reader)
    reader.collect(buf, [weak[0], dark[0], weak[1]])
    got = [buf.read_det_data(i) for i in range(3)]
    for img, (run, tag) in zip(got, [(102, weak[0]), (101, dark[0]), (102, weak[1])],
                               strict=True):
        np.testing.assert_array_equal(img, archive.frames(SINGLE, 3, run, np.array([tag]))[0])
    # the dark frame has no photons: nothing near one photon (152 ADU) above pedestal
    assert got[1].max() < 100 + 10 * 2.0
    assert got[0].max() > 100 + 100


def test_det_info_has_both_spellings(archive):
    reader = stpy.StorageReader(SINGLE, 3, (101,))
    buf = stpy.StorageBuffer(reader)
    reader.collect(buf, dbpy.read_taglist_byrun(3, 101)[0])
    info = buf.read_det_info(0)
    assert set(stpy.det_info_keys()) <= set(info)
    assert info["xsize"] == 32 and info["ysize"] == 64
    for a, b in [("mp_pixelsizex", "mp_pixelsize_x"), ("mp_posx", "mp_pos_x"),
                 ("mp_posy", "mp_pos_y"), ("mp_rotationangle", "mp_rotation_angle")]:
        assert info[a] == info[b]
    assert info["mp_pixelsizex"] == 50.0
    # photons = ADU × absgain × 3.65 / E[eV]: one photon is 152 ADU in the fake
    assert 152.0 * info["mp_absgain"] * 3.65 / 10_000 == pytest.approx(1.0)
    assert info["id"] == SINGLE


def test_running_run_gets_new_tags_as_they_arrive(archive):
    reader = stpy.StorageReader(SINGLE, 3, (103,))
    buf = stpy.StorageBuffer(reader)
    run = archive.runs[103]
    reader.collect(buf, int(run.tags[-1]))
    new_tag = int(run.tags[-1]) + 2
    run.tags = np.append(run.tags, new_tag)
    reader.collect(buf, new_tag)
    assert buf.read_det_data(0).shape == (64, 32)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: stpy.StorageReader("MPCCD-XXX", 3, (101,)),
     f"detector MPCCD-XXX was not recorded in run 101 on BL3 (recorded: {SINGLE})"),
    (lambda: stpy.StorageReader(SINGLE, 3, (999,)),
     "no run 999 on BL3: run 999 was never started on BL3"),
    (lambda: stpy.StorageReader(SINGLE, 3, ()), "StorageReader needs at least one run"),
])
def test_bad_readers_are_api_errors(archive, make, message):
    with pytest.raises(APIError) as err:
        make()
    assert err.value.paragraph() == message


def test_unknown_tag_and_empty_buffer_are_api_errors(archive):
    reader = stpy.StorageReader(SINGLE, 3, (101, 102))
    buf = stpy.StorageBuffer(reader)
    with pytest.raises(APIError, match="nothing collected yet"):
        buf.read_det_data(0)
    with pytest.raises(APIError,
                       match=f"tag 7 is not in run 101, 102 on BL3 for detector {SINGLE}"):
        reader.collect(buf, 7)
    reader.collect(buf, dbpy.read_taglist_byrun(3, 101)[0])
    with pytest.raises(APIError, match=r"index 1 out of range 0..0"):
        buf.read_det_data(1)
    other = stpy.StorageReader(SINGLE, 3, (101,))
    with pytest.raises(APIError, match="the buffer was made for another StorageReader"):
        other.collect(buf, dbpy.read_taglist_byrun(3, 101)[0])


def test_single_int_run_and_numpy_integers_are_accepted(archive):
    assert stpy.StorageReader(SINGLE, 3, 101).runs == (101,)
    assert stpy.StorageReader(SINGLE, np.int64(3), np.int64(101)).runs == (101,)
    tags = np.array(dbpy.read_taglist_byrun(3, 101))  # scripts filter tags with numpy
    reader = stpy.StorageReader(SINGLE, 3, (np.int64(101),))
    buf = stpy.StorageBuffer(reader)
    reader.collect(buf, tags[tags % 4 == tags[0] % 4][1])
    assert buf.read_det_data(0).shape == (64, 32)


def test_sequential_reads_fetch_ahead_in_growing_chunks(archive):
    tags = dbpy.read_taglist_byrun(3, 102)
    reader = stpy.StorageReader(SINGLE, 3, (102,))
    buf = stpy.StorageBuffer(reader)
    archive.frame_calls = 0
    images = []
    for tag in tags:  # 30 tags: chunks of 1, 2, then 4 (READ_AHEAD_MAX) seven times
        reader.collect(buf, tag)
        images.append(buf.read_det_data(0))
    assert stpy.READ_AHEAD_MAX == 4
    assert archive.frame_calls == 9
    np.testing.assert_array_equal(np.stack(images), archive.frames(SINGLE, 3, 102, np.array(tags)))


def test_random_access_fetches_one_image_per_collect(archive):
    tags = dbpy.read_taglist_byrun(3, 102)
    reader = stpy.StorageReader(SINGLE, 3, (102,))
    buf = stpy.StorageBuffer(reader)
    archive.frame_calls = 0
    for k in (5, 1, 20, 3, 9):
        reader.collect(buf, tags[k])
        np.testing.assert_array_equal(
            buf.read_det_data(0), archive.frames(SINGLE, 3, 102, np.array([tags[k]]))[0])
    assert archive.frame_calls == 5 + 5  # five collects plus the five reference reads


def test_every_read_det_data_call_returns_an_array_the_caller_owns(archive):
    tags = dbpy.read_taglist_byrun(3, 102)
    reader = stpy.StorageReader(SINGLE, 3, (102,))
    buf = stpy.StorageBuffer(reader)
    reader.collect(buf, tags[0])
    reader.collect(buf, tags[1])  # read-ahead: tag 2 comes in the same chunk
    first = buf.read_det_data(0)
    pristine = first.copy()
    first -= 1000.0
    again = buf.read_det_data(0)
    np.testing.assert_array_equal(again, pristine)
    assert not np.shares_memory(first, again)
