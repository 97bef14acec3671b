"""The training-range check on CST designs that warns an optimizer's user of extrapolation."""

import numpy as np

from phenograd.datasets.cst import CST_NAMES, N_CST
from phenograd.surrogate.design_range import design_range, design_warning, outside


def _designs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.1, (n, N_CST)) + np.linspace(-0.3, 0.3, N_CST)


def test_range_spans_the_central_share_and_skips_shapes_without_a_fit():
    cst = _designs()
    with_missing = np.vstack([cst, np.full((3, N_CST), np.nan)])
    rng = design_range(with_missing)
    assert rng["shapes"] == 400 and rng["names"] == list(CST_NAMES)
    low, high = np.array(rng["low"]), np.array(rng["high"])
    inside = ((cst >= low) & (cst <= high)).mean(0)
    assert np.all(inside >= 0.985) and np.all(inside < 1.0)  # 0.5 % cut on each side, per weight
    assert design_range(cst[:1]) is None


def test_a_weight_beyond_the_range_is_named_with_its_value_and_range():
    rng = design_range(_designs())
    median = np.median(_designs(), axis=0)
    assert outside(median, rng) == [] and design_warning(median, rng) is None
    odd = median.copy()
    odd[8] = rng["high"][8] + 0.05
    ((name, value, low, high),) = outside(odd, rng)
    assert name == "lower_0" and value == odd[8] and (low, high) == (rng["low"][8], rng["high"][8])
    line = design_warning(odd, rng)
    assert line.startswith("optimum: CST weight outside the central 99 %") and "lower_0 " in line and "\n" not in line


def test_checkpoints_without_a_range_give_no_warning():
    design = np.zeros(N_CST)
    assert outside(design, None) == [] and outside(design, {"low": [0.0]}) == []
    assert outside(design, {"names": ["a"], "low": [1.0], "high": [2.0]}) == []  # wrong length: ignored
