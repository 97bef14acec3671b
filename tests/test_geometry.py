"""CST, NACA, normalisation, geometry checks and the held-out split."""

import numpy as np
import pytest
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import check_airfoil, naca, normalize, real_airfoils, rejected_real_airfoils, split_of
from phenograd.datasets.cst import CST_NAMES, N_CST, check_cst, cst_coordinates, cst_to_coordinates, fit_cst, fit_error

RAE2822_LIKE = np.array(
    [0.13, 0.16, 0.17, 0.2, 0.16, 0.22, 0.2, 0.2, -0.13, -0.12, -0.2, -0.1, -0.25, -0.05, -0.03, 0.03, 0.0, 0.002]
)


@pytest.mark.slow
def test_cst_matches_aerosandbox_convention():
    """Our torch CST gives the same contour as AeroSandbox's get_kulfan_coordinates (NeuralFoil's convention)."""
    from aerosandbox.geometry.airfoil.airfoil_families import get_kulfan_coordinates

    rng = np.random.default_rng(3)
    for _ in range(5):
        p = RAE2822_LIKE + 0.03 * rng.standard_normal(N_CST)
        p[-1] = abs(p[-1])
        ref = get_kulfan_coordinates(
            upper_weights=p[:8],
            lower_weights=p[8:16],
            leading_edge_weight=p[16],
            TE_thickness=p[17],
            n_points_per_side=121,
        )
        ours = cst_to_coordinates(p, n_points_per_side=121)
        np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_cst_gradcheck():
    params = torch.tensor(RAE2822_LIKE, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: cst_coordinates(p, 25), (params,))
    batch = params.detach().repeat(3, 1).requires_grad_(True)
    assert cst_coordinates(batch, 25).shape == (3, 49, 2)
    assert torch.autograd.gradcheck(lambda p: cst_coordinates(p, 15)[..., 1].sum(-1), (batch,))


def test_cst_fits_of_50_real_airfoils(capsys):
    """Least-squares CST fits reproduce real airfoils to a fraction of a percent of chord."""
    foils = real_airfoils("train")[::30][:50]
    assert len(foils) == 50
    errors = np.array([fit_error(f.coordinates, fit_cst(f.coordinates)) for f in foils])
    q = np.percentile(errors, [50, 90, 100])
    with capsys.disabled():
        print(f"\nCST fit max |dy|/c over 50 real airfoils: median {q[0]:.5f}, p90 {q[1]:.5f}, max {q[2]:.5f}")
    assert q[0] < 0.002 and q[2] < 0.02


def test_fit_recovers_a_cst_design():
    coords = cst_to_coordinates(RAE2822_LIKE)
    fitted = fit_cst(coords)
    # The fit interpolates each surface linearly onto its stations, so even an exact CST
    # contour (121 points per side) is reproduced to ~0.05 % chord, not to round-off.
    assert fit_error(coords, fitted) < 6e-4
    np.testing.assert_allclose(fitted, RAE2822_LIKE, atol=0.02)  # Bernstein weights are ill-conditioned


def test_naca_sections():
    c = naca("0012")
    assert c.shape == (241, 2)
    assert np.max(c[:, 1]) - np.min(c[:, 1]) == pytest.approx(0.12, abs=2e-3)
    np.testing.assert_allclose(c[:, 1], -c[::-1, 1], atol=1e-12)  # symmetric
    cambered = naca("NACA 2412")
    le = np.argmin(cambered[:, 0])
    assert np.mean(cambered[:le, 1] + cambered[::-1][:le, 1]) > 0  # positive camber
    assert naca("23012").shape == (241, 2)
    for bad in ["12", "abcd", "9999x", "0000", "2012" + "1", "23112", "20012", ""]:
        with pytest.raises(InputError):
            naca(bad)


@pytest.mark.parametrize(
    "params, match",
    [
        (np.full(N_CST, np.nan), "NaN"),
        (np.r_[RAE2822_LIKE[:-1], -0.01], "te_thickness"),
        (np.r_[5.0, RAE2822_LIKE[1:]], CST_NAMES[0]),
        (np.zeros(10), "18 values"),
    ],
)
def test_bad_cst_values(params, match):
    with pytest.raises(InputError, match=match):
        check_cst(params)
    with pytest.raises(InputError):
        cst_to_coordinates(params)


def test_normalize_undoes_scale_rotation_translation():
    c = naca("4412")
    angle = np.deg2rad(7)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 2.5 * c @ rot.T + np.array([3.0, -1.0])
    np.testing.assert_allclose(normalize(moved), normalize(c), atol=1e-9)


def test_check_airfoil_rejects_bad_geometry():
    good = naca("2412")
    assert check_airfoil(good).shape == good.shape
    bad = {
        "not closed": good[:-60],  # the aft lower surface is missing
        "NaN": np.where(np.arange(len(good))[:, None] == 5, np.nan, good),
        "crosses": np.vstack([good[:, 0], np.where(np.arange(len(good)) < 40, -3 * good[:, 1], good[:, 1])]).T,
        "maximum thickness": np.vstack([good[:, 0], good[:, 1] * 0.01]).T,
        "at least 10": good[:5],
    }
    for reason, coords in bad.items():
        with pytest.raises(InputError, match=reason):
            check_airfoil(coords, "test")


def test_held_out_split_is_fixed_and_about_20_percent():
    foils = real_airfoils("all")
    train, test = real_airfoils("train"), real_airfoils("test")
    assert len(train) + len(test) == len(foils) > 2100
    assert 0.17 < len(test) / len(foils) < 0.23
    assert not {f.name for f in train} & {f.name for f in test}
    assert all(split_of(f.name) == f.split for f in foils)
    # Fixed by a hash of the name: pinned here so that the held-out set can never drift.
    assert [split_of(n) for n in ("naca2412", "e387", "clarky", "s1223", "2032c", "AV-1.7-8")] == [
        "train",
        "train",
        "test",
        "train",
        "test",
        "test",
    ]
    assert split_of("ClarkY ") == split_of("clarky")
    assert len(rejected_real_airfoils()) < 20
