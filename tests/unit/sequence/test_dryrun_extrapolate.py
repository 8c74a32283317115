"""The sampled dry-run's extrapolation: a loop's first iteration (with its one-off costs)
counts once, the last one rehearsed stands for every iteration not rehearsed."""

from __future__ import annotations

import pytest

from expctl.sequence.dryrun import extrapolate


def test_a_first_iteration_s_one_off_cost_is_counted_once() -> None:
    # loop step 2 of 10 iterations; the first carries a 30 s move, the second does not
    rehearsed = {"1": 5.0, "2": 48.0, "2/delay[0]": 40.0, "2/delay[0]/1": 40.0,
                 "2/delay[1]": 8.0, "2/delay[1]/1": 8.0, "3": 1.0}
    share = extrapolate(rehearsed, lambda path: 10)
    assert share["2"] == pytest.approx(40 + 9 * 8)
    assert share["2/delay[0]"] == pytest.approx(40.0)
    assert share["2/delay[1]/1"] == pytest.approx(9 * 8.0)  # it stands for iterations 1 .. 9
    assert share["1"] == 5.0 and share["3"] == 1.0


def test_nested_loops_are_extrapolated_from_the_innermost_out() -> None:
    # outer loop of 4, inner loop of 5 in each; rehearsed: 2 x 2 iterations
    rehearsed = {"1/a[0]": 16.0, "1/a[0]/1": 16.0, "1/a[0]/1/b[0]": 10.0,
                 "1/a[0]/1/b[1]": 6.0, "1/a[1]": 4.0, "1/a[1]/1": 4.0, "1/a[1]/1/b[0]": 2.0,
                 "1/a[1]/1/b[1]": 2.0, "1": 20.0}
    sizes = {"1": 4, "1/a[0]/1": 5, "1/a[1]/1": 5}
    share = extrapolate(rehearsed, lambda path: sizes[path])
    first = 10 + 4 * 6  # the outer loop's first iteration, its inner loop extrapolated
    later = 2 + 4 * 2
    assert share["1"] == pytest.approx(first + 3 * later)
    assert share["1/a[1]/1/b[1]"] == pytest.approx(4 * 3 * 2.0)  # 4 inner x 3 outer iterations


def test_a_loop_rehearsed_in_full_keeps_its_time() -> None:
    rehearsed = {"1": 9.0, "1/x[0]": 5.0, "1/x[1]": 4.0}
    assert extrapolate(rehearsed, lambda path: 2) == rehearsed


def test_a_rehearsal_that_stopped_inside_a_loop_adds_no_negative_iterations() -> None:
    rehearsed = {"1": 3.0, "1/x[0]": 3.0}
    assert extrapolate(rehearsed, lambda path: 0)["1"] == 3.0
