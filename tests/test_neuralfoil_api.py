"""phenograd.get_aero_from_* against NeuralFoil's functions of the same names: the same calls, the same keys and
shapes, values within the models' errors; bad input gives a one-line InputError."""

from __future__ import annotations

import numpy as np
import pytest

import phenograd
from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import naca
from phenograd.datasets.cst import fit_cst
from phenograd.datasets.datfile import write_dat

nf = pytest.importorskip("neuralfoil")

KEYS = {"analysis_confidence", "CL", "CD", "CM", "Top_Xtr", "Bot_Xtr"}
ALPHA = np.linspace(-4.0, 10.0, 8)
NF_SIZE = "xxxlarge"


def kulfan(cst: np.ndarray) -> dict:
    return {
        "upper_weights": cst[:8],
        "lower_weights": cst[8:16],
        "leading_edge_weight": cst[16],
        "TE_thickness": cst[17],
    }


def close_to_neuralfoil(ours: dict, theirs: dict) -> None:
    """Within the two models' errors against XFOIL (each about 0.01-0.02 in CL on real airfoils)."""
    assert np.max(np.abs(ours["CL"] - theirs["CL"])) < 0.1
    assert np.max(np.abs(np.log(ours["CD"]) - np.log(theirs["CD"]))) < 0.25
    assert np.max(np.abs(ours["CM"] - theirs["CM"])) < 0.02
    assert np.max(np.abs(ours["Top_Xtr"] - theirs["Top_Xtr"])) < 0.25


def test_the_public_names_are_neuralfoils():
    for name in ("get_aero_from_kulfan_parameters", "get_aero_from_coordinates", "get_aero_from_dat_file"):
        assert callable(getattr(phenograd, name))


def test_kulfan_sweep_of_naca_2412_matches_neuralfoil():
    params = kulfan(fit_cst(naca("2412")))
    ours = phenograd.get_aero_from_kulfan_parameters(params, alpha=ALPHA, Re=1e6)
    theirs = nf.get_aero_from_kulfan_parameters(params, alpha=ALPHA, Re=1e6, model_size=NF_SIZE)
    assert set(ours) == KEYS and KEYS <= set(theirs)
    for key in KEYS:
        assert ours[key].shape == theirs[key].shape == (len(ALPHA),) and ours[key].dtype == np.float64
    close_to_neuralfoil(ours, theirs)
    assert np.all((ours["analysis_confidence"] >= 0) & (ours["analysis_confidence"] <= 1))
    assert np.all(np.diff(ours["CL"]) > 0)  # attached flow: lift rises with alpha


def test_broadcasting_follows_neuralfoil():
    cst = fit_cst(naca("2412"))
    scalar = phenograd.get_aero_from_kulfan_parameters(kulfan(cst), alpha=3.0, Re=1e6)
    assert all(v.shape == (1,) for v in scalar.values())
    # vectorised weights (8, N) beside per-case alpha and Re: case k is shape k at alpha[k], Re[k]
    other = fit_cst(naca("0012"))
    both = np.stack([cst, other, cst], axis=1)  # (18, 3)
    params = {
        "upper_weights": both[:8],
        "lower_weights": both[8:16],
        "leading_edge_weight": both[16],
        "TE_thickness": both[17],
    }
    alpha, re = np.array([3.0, 3.0, 6.0]), np.array([1e6, 1e6, 3e6])
    ours = phenograd.get_aero_from_kulfan_parameters(params, alpha=alpha, Re=re)
    theirs = nf.get_aero_from_kulfan_parameters(params, alpha=alpha, Re=re, model_size=NF_SIZE)
    assert {k: v.shape for k, v in ours.items()} == {k: theirs[k].shape for k in ours}
    np.testing.assert_allclose(ours["CL"][0], scalar["CL"][0], rtol=1e-6)
    single = phenograd.get_aero_from_kulfan_parameters(kulfan(cst), alpha=6.0, Re=3e6)
    np.testing.assert_allclose(ours["CL"][2], single["CL"][0], rtol=1e-6)
    assert ours["CL"][1] < ours["CL"][0] - 0.15  # the symmetric section lifts less at the same alpha (2 % camber)
    close_to_neuralfoil(ours, theirs)


def test_coordinates_and_dat_file_match_neuralfoil(tmp_path):
    coords = naca("2412")
    ours = phenograd.get_aero_from_coordinates(coords, alpha=ALPHA, Re=1e6)
    theirs = nf.get_aero_from_coordinates(coords, alpha=ALPHA, Re=1e6, model_size=NF_SIZE)
    assert set(ours) == KEYS
    close_to_neuralfoil(ours, theirs)
    path = tmp_path / "naca2412.dat"
    write_dat(path, "NACA 2412", coords)
    from_file = phenograd.get_aero_from_dat_file(path, alpha=ALPHA, Re=1e6)
    for key in KEYS:
        np.testing.assert_allclose(from_file[key], ours[key], rtol=1e-4, atol=1e-5)
    close_to_neuralfoil(from_file, nf.get_aero_from_dat_file(path, alpha=ALPHA, Re=1e6, model_size=NF_SIZE))


def test_a_moved_scaled_rotated_contour_is_corrected_as_neuralfoil_corrects_it():
    """Rotated by 5 deg (nose up), scaled to chord 2, moved: alpha gains the rotation, Re the chord, and CM is
    taken about the given frame's (0.25, 0), as NeuralFoil does."""
    coords = naca("2412")
    t = np.radians(5.0)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])  # clockwise: the nose rises
    moved = 2.0 * coords @ rot.T + np.array([0.3, -0.1])
    ours = phenograd.get_aero_from_coordinates(moved, alpha=ALPHA, Re=5e5)
    close_to_neuralfoil(ours, nf.get_aero_from_coordinates(moved, alpha=ALPHA, Re=5e5, model_size=NF_SIZE))
    plain = phenograd.get_aero_from_coordinates(coords, alpha=ALPHA + 5.0, Re=1e6)
    np.testing.assert_allclose(ours["CL"], plain["CL"], atol=2e-3)


def test_std_on_request():
    out = phenograd.get_aero_from_coordinates(naca("0012"), alpha=[0.0, 4.0], Re=1e6, return_std=True)
    assert {"CL_std", "CD_std", "CM_std"} <= set(out) and np.all(out["CL_std"] > 0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: phenograd.get_aero_from_kulfan_parameters({"upper_weights": np.zeros(8)}, 0.0, 1e6), "lacks"),
        (
            lambda: phenograd.get_aero_from_kulfan_parameters(
                {**kulfan(fit_cst(naca("2412"))), "upper_weights": np.zeros(7)}, 0.0, 1e6
            ),
            "8 weights",
        ),
        (
            lambda: phenograd.get_aero_from_kulfan_parameters(kulfan(fit_cst(naca("2412"))), [0.0, 1.0], [1e6] * 3),
            "common length",
        ),
        (
            lambda: phenograd.get_aero_from_kulfan_parameters(
                {**kulfan(fit_cst(naca("2412"))), "TE_thickness": 0.5}, 0.0, 1e6
            ),
            "te_thickness",
        ),
        (lambda: phenograd.get_aero_from_coordinates(naca("2412"), 0.0, -1e6), "Re must be positive"),
        (lambda: phenograd.get_aero_from_coordinates(naca("2412"), float("nan"), 1e6), "NaN"),
        (lambda: phenograd.get_aero_from_coordinates(naca("2412"), 0.0, 1e6, n_crit=7.0), "n_crit must be 9"),
        (lambda: phenograd.get_aero_from_coordinates(naca("2412"), 0.0, 1e6, xtr_upper=0.3), "forced transition"),
        (lambda: phenograd.get_aero_from_coordinates(naca("2412"), 0.0, 1e6, model_size="huge"), "model_size"),
        (lambda: phenograd.get_aero_from_coordinates(np.zeros((5, 2)), 0.0, 1e6), "at least 10"),
        (lambda: phenograd.get_aero_from_dat_file("no/such/file.dat", 0.0, 1e6), "no such file"),
    ],
)
def test_bad_input_is_one_line_input_error(call, message):
    with pytest.raises(InputError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
