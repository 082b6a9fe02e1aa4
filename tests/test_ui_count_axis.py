"""The step and epoch axes of the Fine-tune curves tick at whole numbers only."""

from inspector.ui.count_axis import CountAxis


def test_a_short_run_gets_no_half_steps(qtbot):
    axis = CountAxis("bottom")
    values = [v for _, level in axis.tickValues(0.0, 3.0, 400) for v in level]
    assert values and all(float(v).is_integer() for v in values)
    assert {0.0, 1.0, 2.0, 3.0} <= set(values)
    long_run = [v for _, level in axis.tickValues(0.0, 2000.0, 400) for v in level]
    assert long_run and all(float(v).is_integer() for v in long_run)
