"""The safe expression language: arithmetic with units, static checking, and no way out."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expctl.errors import ExpctlError, Location
from expctl.sequence.expr import ExprError, ResultShape, Unknown, parse_expression
from expctl.sequence.model import Arg
from expctl.sequence.source import parse_text
from expctl.units import Quantity


def ev(text: str, **env):
    return parse_expression("${" + text + "}").evaluate(env)


def test_quantities_add_across_units_in_the_left_unit():
    assert ev("delay + 500 fs", delay=Quantity(1.5, "ps")) == Quantity(2.0, "ps")
    total = ev("1 min + 30 s")
    assert total.unit == "min" and total.value == pytest.approx(1.5, rel=1e-12)
    assert ev("delay / 1 ps", delay=Quantity(1.5, "ps")) == pytest.approx(1.5)


def test_result_field_arithmetic_with_a_real_result():
    value = ev("rock.center + 0.001", rock={"center": 11.4, "fwhm": 0.002})
    assert value == pytest.approx(11.401)


def test_linspace_and_range_keep_units():
    assert ev("linspace(-2 ps, 10 ps, 4)") == [Quantity(-2.0, "ps"), Quantity(2.0, "ps"),
                                               Quantity(6.0, "ps"), Quantity(10.0, "ps")]
    assert ev("range(3)") == [0, 1, 2]
    assert ev("len(range(0 ps, 1 ps, 0.25 ps))") == 4


def test_static_values_flow_through_as_unknown_with_units():
    rock = ResultShape("rocking_curve", {"center": "deg", "fwhm": "deg"})
    assert ev("rock.center + 0.001 deg", rock=rock) == Unknown("deg")
    with pytest.raises(ExprError, match="has no field 'centre'") as info:
        ev("rock.centre", rock=rock)
    assert info.value.hint == "Did you mean 'center'?"


@pytest.mark.parametrize(("text", "message"), [
    ("delay + 1", "cannot add quantity 1.5 ps and plain number 1"),
    ("2 ** 1000", "number too large for **"),
    ("[x for x in y]", "a comprehension is not allowed in expressions"),
    ("().__class__", "attribute '__class__' is not allowed; only result fields are"),
    ("getattr(delay, 'value')", "getattr() is not an allowed function"),
    ("delay.value", "delay is quantity 1.5 ps and has no fields; cannot read .value"),
    ("f'{delay}'", "an f-string is not allowed in expressions"),
    ("1 / 0", "division by zero"),
    ("_q0_ + 1 ps", "names starting with '_' are not allowed (_q0_)"),
    ("__builtins__", "names starting with '_' are not allowed (__builtins__)"),
    ("x := 1", "invalid expression ${x := 1}: invalid syntax"),
    ("sqrt(-1)", "sqrt(-1) is undefined"),
    ("max()", "max() needs at least one value"),
])
def test_forbidden_or_wrong_expressions_are_errors_with_text(text, message):
    with pytest.raises(ExprError) as info:
        ev(text, delay=Quantity(1.5, "ps"))
    assert info.value.message.startswith(message)


def test_comparisons_and_logic():
    assert ev("delay > 1 ps and not false", delay=Quantity(1500.0, "fs")) is True
    assert ev("'on' if n % 2 == 0 else 'off'", n=4) == "on"
    assert ev("1 ps < 2 ps < 3 ps") is True


def test_yaml_on_off_stay_words_and_expressions_survive_flow_mappings():
    tree = parse_text("a: {pump: off, d: ${x + max(1, 2)}, t: true}\n", "f.yaml")
    assert tree.plain() == {"a": {"pump": "off", "d": "${x + max(1, 2)}", "t": True}}
    assert tree.value["a"].value["d"].loc == Location("f.yaml", 1, 19)


_tokens = st.sampled_from(list("abcxyz_019 .+-*/()[]{}$:'\",<>=!%#&|\\\n\t")
                         + ["ps", "deg", "mm", "__", "lambda", "import", "${", "rock",
                            "center", "os", "1e308", "on", "off", "- ", ": "])
_texts = st.lists(_tokens, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_random_expressions_never_raise_anything_but_expression_errors(body):
    try:
        expr = parse_expression("${" + body + "}")
        expr.evaluate({"rock": ResultShape("peak", {"center": None}), "x": 1.5,
                       "delay": Quantity(1.0, "ps"), "xs": [1, 2, 3]})
    except ExprError:
        pass


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_random_yaml_never_raises_anything_but_expctl_errors(text):
    try:
        node = parse_text(text, "rand.yaml")
        if node.is_scalar and isinstance(node.value, str):
            Arg.of(node.value, node.loc).value({"x": 1.0})
    except ExpctlError:
        pass


def test_numbers_stay_finite():
    with pytest.raises(ExprError, match="not a finite number"):
        ev("1e308 * 10")
    assert math.isclose(ev("exp(1)"), math.e)
