"""A catalyst surrogate is verified by the simulator whose labels it learnt (optimize.fidelity), unless told
otherwise, and a mismatch is flagged: predicted and verified E_ads of two fidelities are not a model error."""

from pathlib import Path

import numpy as np
import pytest
from ase.db import connect

from phenograd.optimize.fidelity import label_calculators, verifying_calculator
from phenograd.optimize.screen import screen
from phenograd.simulators.calculators import EMT_SPEC, calculator_spec
from phenograd.surrogate.predict import load_surrogate

CHGNET = calculator_spec("chgnet")
CHGNET_LABELS = {"meta": {"labels": {"calculators": [CHGNET], "protocol": "v2"}}}


def test_unrecorded_labels_are_emt_and_verified_with_emt():
    assert label_calculators({"meta": {}}) == [EMT_SPEC]
    assert verifying_calculator({"meta": {}}, None) == (EMT_SPEC, [])


def test_a_chgnet_model_is_verified_with_chgnet_unless_told_otherwise():
    assert verifying_calculator(CHGNET_LABELS, None) == (CHGNET, [])
    assert verifying_calculator(CHGNET_LABELS, "chgnet") == (CHGNET, [])
    spec, flags = verifying_calculator(CHGNET_LABELS, "emt")
    assert spec == EMT_SPEC and len(flags) == 1
    assert "learnt chgnet labels" in flags[0] and "verified with emt" in flags[0]


def test_a_screen_records_and_flags_the_fidelity_it_verifies_with(catalyst_model, write_space, tmp_path):
    """The untrained fixture model records no labels (EMT's); asking for CHGNet is allowed, flagged, and the
    screen file remembers the calculator (nothing is relaxed here: no verification)."""
    surrogate = load_surrogate(catalyst_model, domain="catalyst")
    plain = screen(write_space(), tmp_path / "emt.db", surrogate=surrogate, top=2, plot=False)
    other = screen(write_space(), tmp_path / "chgnet.db", surrogate=surrogate, top=2, plot=False, calculator="chgnet")
    assert not any("fidelities" in f for f in plain.flags)
    assert sum("two fidelities" in f for f in other.flags) == 1
    assert connect(tmp_path / "emt.db").metadata["calculator"] == EMT_SPEC
    assert connect(tmp_path / "chgnet.db").metadata["calculator"] == CHGNET


@pytest.mark.slow
def test_the_shipped_chgnet_model_screens_metals_emt_lacks(write_space, space_text, tmp_path):
    """Rh and Ir are fcc metals that CHGNet and the shipped model cover and EMT does not: the default model ranks a
    Pt-Rh-Ir space (fcc slabs at CHGNet's own lattice constants); nothing is relaxed here."""
    space = write_space(space_text.replace('["Pt", "Cu", "Au"]', '["Pt", "Rh", "Ir"]').replace("-1.0", "2.0"))
    r = screen(space, tmp_path / "pgm.db", top=3, plot=False)
    assert connect(tmp_path / "pgm.db").metadata["calculator"] == CHGNET
    assert r.n_candidates > 10 and np.all(np.isfinite(r.e_pred)) and not r.flags


def test_a_model_fine_tuned_on_dft_labels_records_them_and_their_lineage(tmp_path, catalyst_model):
    """Fine-tuning on the DFT label set (the ladder's multi-fidelity surrogate) records DFT labels, the potential
    whose geometries they were computed at, and the labels of the model it started from; a screen with it is
    verified by that potential and flagged as two fidelities, never silently by EMT."""
    import lzma
    import shutil

    from phenograd.cli import main
    from phenograd.surrogate.catalyst_data import label_fidelity

    dft = tmp_path / "dft.db"
    with lzma.open(Path(__file__).resolve().parents[1] / "data/catalyst_dft_v1.db.xz") as src, open(dft, "wb") as dst:
        shutil.copyfileobj(src, dst)
    labels = label_fidelity(connect(dft).metadata)
    assert labels["protocol"] == "dft" and labels["geometry"] == CHGNET and "PBE" in labels["dft"]["describe"]
    out = tmp_path / "ft.pt"
    args = ["train", "--domain", "catalyst", "--data", dft, "--out", out, "--init", catalyst_model]
    assert main([str(a) for a in args + ["--members", "1", "--epochs", "1", "--no-progress"]]) == 0
    info = load_surrogate(out, domain="catalyst").info
    recorded = info["meta"]["labels"]
    assert recorded["protocol"] == "dft" and recorded["started_from"].startswith("unrecorded")
    assert label_calculators(info) == [CHGNET]
    spec, flags = verifying_calculator(info, None)
    assert spec == CHGNET and len(flags) == 1 and "learnt DFT labels" in flags[0] and "--verify-dft" in flags[0]
