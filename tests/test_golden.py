"""Golden values: the shipped models' predictions on a few fixed inputs, pinned.

surrogate/models/airfoil.pt, catalyst.pt (CHGNet labels) and catalyst_emt_v1.pt are part of the product; these
numbers change when a model is retrained or the model code changes what a checkpoint computes, and only then. When
that is deliberate (a new shipped model), recompute the values with the code in this file's helpers and write them
here in the same commit; when it is not, this test is the alarm. Values computed on 2026-12-04 (catalyst.pt:
2026-12-05, the model trained on the 5,002-system release; airfoil.pt: 2026-12-06, the station-y heads, and its
confidence on 2026-12-07, the convergence row refitted on retried labels, nothing else changed; CPU, float32, one
thread).
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
    "CL": [0.060383737087249756, 0.2887021005153656, 0.7336695790290833, 1.1439610719680786],
    "CD": [0.006515712011605501, 0.0060274736024439335, 0.0065979985520243645, 0.012618226930499077],
    "CM": [-0.06498023867607117, -0.06548238545656204, -0.06390447169542313, -0.059470318257808685],
    "Top_Xtr": [0.7073653340339661, 0.6128123998641968, 0.4190900921821594, 0.05249636620283127],
    "Bot_Xtr": [0.33991169929504395, 0.5775278806686401, 0.9984890222549438, 1.0008448362350464],
    "confidence": [0.9950317144393921, 0.9930393099784851, 0.9926907420158386, 0.9987106323242188],
    "CL_std": [0.009162170812487602, 0.007768194656819105, 0.009347397834062576, 0.011067540384829044],
}
AIRFOIL_NACA2412 = {  # naca("2412") contour at alpha 0, 6 deg, Re 3e5, Ncrit 9
    "CL": [0.22899222373962402, 0.8925064206123352],
    "CD": [0.007796598132699728, 0.011610113084316254],
    "CM": [-0.05099157616496086, -0.04769213870167732],
    "Top_Xtr": [0.7817286252975464, 0.347660094499588],
    "Bot_Xtr": [0.9301825761795044, 1.0010639429092407],
    "confidence": [0.9935277700424194, 0.9989946484565735],
    "CL_std": [0.013086284510791302, 0.011632915586233139],
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
