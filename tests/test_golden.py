"""Golden values: the shipped models' predictions on a few fixed inputs, pinned.

surrogate/models/airfoil.pt, catalyst.pt (CHGNet labels) and catalyst_emt_v1.pt are part of the product; these
numbers change when a model is retrained or the model code changes what a checkpoint computes, and only then. When
that is deliberate (a new shipped model), recompute the values with the code in this file's helpers and write them
here in the same commit; when it is not, this test is the alarm. Values computed on 2026-12-04 (catalyst.pt:
2026-12-05, the model trained on the 5,002-system release; CPU, float32, one thread).
"""

import numpy as np
import pytest
import torch
from ase.build import add_adsorbate, fcc111

from phenograd.datasets.airfoil import naca
from phenograd.surrogate.model import shipped_model_path
from phenograd.surrogate.predict import load_surrogate

RTOL, ATOL = 1e-5, 1e-6  # float32 reductions may differ with the thread count in the last bits

# An 18-parameter CST shape (8 upper, 8 lower, leading-edge modification, trailing-edge thickness).
CST = [
    0.17,
    0.22,
    0.18,
    0.25,
    0.16,
    0.21,
    0.17,
    0.19,
    -0.15,
    -0.10,
    -0.12,
    -0.06,
    -0.10,
    -0.02,
    -0.04,
    0.0,
    0.0,
    0.0025,
]

AIRFOIL_CST = {  # CST above at alpha -2, 0, 4, 8 deg, Re 1e6, Ncrit 9
    "CL": [0.0666562095284462, 0.2920007109642029, 0.7394084930419922, 1.1506845951080322],
    "CD": [0.006524252239614725, 0.0060182115994393826, 0.006682793144136667, 0.012788144871592522],
    "CM": [-0.06484837830066681, -0.06515774130821228, -0.06414365768432617, -0.0593736469745636],
    "Top_Xtr": [0.7128435373306274, 0.6147853136062622, 0.41970914602279663, 0.05338055640459061],
    "Bot_Xtr": [0.34815356135368347, 0.5925804376602173, 1.0003869533538818, 1.0004228353500366],
    "confidence": [0.9655338525772095, 0.9582871198654175, 0.9687927961349487, 0.9932857751846313],
    "CL_std": [0.00562190730124712, 0.007847587577998638, 0.00813597347587347, 0.008103874512016773],
}
AIRFOIL_NACA2412 = {  # naca("2412") contour at alpha 0, 6 deg, Re 3e5, Ncrit 9
    "CL": [0.2455126941204071, 0.8924161791801453],
    "CD": [0.007820390164852142, 0.011714057065546513],
    "CM": [-0.05293684080243111, -0.04810786619782448],
    "Top_Xtr": [0.782390296459198, 0.34823447465896606],
    "Bot_Xtr": [0.9420429468154907, 1.0003355741500854],
    "confidence": [0.9677971601486206, 0.996070384979248],
    "CL_std": [0.008275587111711502, 0.004762856289744377],
}
CATALYST = {  # O at the fcc site of a 2x2x3 fcc(111) slab, a = 3.92 Å: pure Pt; a Pt-Cu-Au decoration
    "E_ads": [2.1709342002868652, 2.4094955921173096],
    "std": [0.7776183485984802, 0.887320339679718],
}
CATALYST_EMT_V1 = {  # the same two slabs through v1's EMT model, surrogate/models/catalyst_emt_v1.pt
    "E_ads": [-0.9177913665771484, -0.8456185460090637],
    "std": [0.002959632780402899, 0.00956858228892088],
}
ALLOY = ["Pt", "Cu", "Pt", "Cu", "Cu", "Pt", "Pt", "Pt", "Au", "Pt", "Au", "Pt"]


def _slab(metals):
    """Built with ASE alone (no phenograd builder), so the inputs stay fixed whatever the dataset code does."""
    s = fcc111("Pt", (2, 2, 3), a=3.92, vacuum=10.0)
    s.set_chemical_symbols(metals)
    s.set_tags(np.where(s.get_tags() <= 2, 1, 0))  # ASE: 1 = top layer; OC20: 1 free surface, 0 fixed
    add_adsorbate(s, "O", 1.2, "fcc")
    tags = s.get_tags()
    tags[-1] = 2
    s.set_tags(tags)
    return s


def _check(out, golden):
    for key, values in golden.items():
        got = out[key].detach().reshape(-1).double().numpy()
        np.testing.assert_allclose(got, values, rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.fixture(scope="module")
def airfoil():
    return load_surrogate(domain="airfoil")


def test_shipped_airfoil_model_on_a_cst_shape(airfoil):
    with torch.no_grad():
        out = airfoil.predict_airfoil(torch.tensor(CST), [-2.0, 0.0, 4.0, 8.0], 1e6)
    _check(out, AIRFOIL_CST)


def test_shipped_airfoil_model_on_a_contour(airfoil):
    with torch.no_grad():
        out = airfoil.predict_airfoil(torch.as_tensor(naca("2412")), [0.0, 6.0], 3e5)
    _check(out, AIRFOIL_NACA2412)


def test_shipped_catalyst_model():
    with torch.no_grad():
        out = load_surrogate(domain="catalyst").predict_adsorption([_slab(["Pt"] * 12), _slab(ALLOY)])
    _check(out, CATALYST)


def test_emt_v1_catalyst_model_still_loads_by_path():
    path = shipped_model_path("catalyst").with_name("catalyst_emt_v1.pt")
    with torch.no_grad():
        out = load_surrogate(path, domain="catalyst").predict_adsorption([_slab(["Pt"] * 12), _slab(ALLOY)])
    _check(out, CATALYST_EMT_V1)
