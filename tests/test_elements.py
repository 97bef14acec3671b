"""The atom graphs' vocabulary over atomic numbers, and older catalyst models on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import add_adsorbate, fcc111
from ase.data import chemical_symbols

from phenograd.core.errors import InputError
from phenograd.surrogate.catalyst_data import CatalystSamples, split_of_row
from phenograd.surrogate.catalyst_domain import CATALYST
from phenograd.surrogate.elements import (
    ELEMENTS,
    LEGACY_ELEMENTS,
    MAX_Z,
    model_elements,
    unseen_elements,
    widen_legacy_columns,
)
from phenograd.surrogate.graphs import N_TAGS, atoms_graph, element_one_hot
from phenograd.surrogate.model import shipped_model_path
from phenograd.surrogate.predict import load_surrogate

#: v1's EMT catalyst model (graph version 1, 11 element columns), shipped beside the default since 2026-12-05.
EMT_V1_MODEL = shipped_model_path("catalyst").with_name("catalyst_emt_v1.pt")


def test_vocabulary_column_is_atomic_number_minus_one():
    assert len(ELEMENTS) == MAX_Z == 83
    for z in range(1, MAX_Z + 1):
        assert ELEMENTS[z - 1] == chemical_symbols[z]
    rows = element_one_hot(["Fe", "Pb", "H"])
    assert rows.argmax(1).tolist() == [25, 81, 0]
    with pytest.raises(ValueError, match="'Po'"):
        element_one_hot(["Po"])


def test_widened_legacy_weights_give_the_same_first_layer_output():
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(16, len(LEGACY_ELEMENTS) + N_TAGS, generator=gen)
    wide = widen_legacy_columns(weight)
    assert wide.shape == (16, len(ELEMENTS) + N_TAGS)
    symbols = ["Pt", "O", "Au", "H", "Al", "Ni"]
    tags = torch.tensor([0, 2, 1, 2, 1, 0])
    old = torch.zeros(len(symbols), len(LEGACY_ELEMENTS))
    old[torch.arange(len(symbols)), torch.tensor([LEGACY_ELEMENTS.index(s) for s in symbols])] = 1.0
    t = torch.nn.functional.one_hot(tags, N_TAGS).float()
    x_old = torch.cat([old, t], 1)
    x_new = torch.cat([element_one_hot(symbols), t], 1)
    torch.testing.assert_close(x_new @ wide.T, x_old @ weight.T, rtol=0, atol=1e-6)
    other = [k for k in range(len(ELEMENTS)) if ELEMENTS[k] not in LEGACY_ELEMENTS]
    assert torch.count_nonzero(wide[:, other]) == 0


def test_shipped_version_1_model_loads_on_the_new_vocabulary_and_refuses_unseen_elements():
    surrogate = load_surrogate(EMT_V1_MODEL, domain="catalyst")
    assert surrogate.elements == LEGACY_ELEMENTS
    assert surrogate.ensemble.members[0].encoder.embed.in_features == len(ELEMENTS) + N_TAGS
    slab = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "O", 1.5, "fcc")
    slab.set_tags([0] * 4 + [1] * 8 + [2])
    e = surrogate.predict_adsorption([slab])["E_ads"]
    assert torch.isfinite(e).all()
    iron = slab.copy()
    iron.symbols[:12] = "Fe"
    with pytest.raises(InputError, match="element Fe is outside this model's training data"):
        surrogate.predict_adsorption([iron])
    with pytest.raises(InputError, match="metals: element W"):
        surrogate.check_elements(["Pt", "W"], "metals")


def test_upgrade_leaves_files_of_other_shapes_for_the_loader_to_judge():
    payload = torch.load(EMT_V1_MODEL, weights_only=True)
    assert payload.get("graph_version", 1) == 1
    up = CATALYST.upgrade_checkpoint(payload)
    assert up["graph_version"] == 2 and up["encoder"]["in_features"] == len(ELEMENTS) + N_TAGS
    assert up["meta"]["elements"] == list(LEGACY_ELEMENTS)
    odd = {**payload, "encoder": {**payload["encoder"], "in_features": 99}}
    assert CATALYST.upgrade_checkpoint(odd) is odd


def test_model_elements_and_unseen():
    assert model_elements({}) == LEGACY_ELEMENTS
    assert model_elements({"elements": ["O", "Fe"]}) == ("O", "Fe")
    with pytest.raises(InputError, match="meta.elements"):
        model_elements({"elements": ["O", "Xx"]})
    assert unseen_elements(["Pt", "Fe", "Pt", "W", "Fe"], ["Pt"]) == ["Fe", "W"]


def test_training_data_records_its_elements_and_v2_held_out_splits_stay_out():
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    slab.symbols[0] = "Fe"
    add_adsorbate(slab, "N", 1.5, "fcc")
    slab.set_tags([0] * 4 + [1] * 8 + [2])
    graphs = [atoms_graph(slab)]
    data = CatalystSamples(graphs, torch.zeros(1), ["u"], ["train"], ["N"], np.array([False]), "h")
    assert data.elements_in([0]) == ["N", "Fe", "Cu"]
    for split in ("test", "ood", "ood_composition", "ood_facet"):
        assert split_of_row(split, "abc1") == split
    assert split_of_row("train", "abc0") == "val" and split_of_row("train", "abc1") == "train"


def test_element_reference_is_the_least_squares_energy_per_adsorbate_atom():
    from phenograd.surrogate.elements import ELEMENT_INDEX
    from phenograd.surrogate.train_catalyst import (
        CatalystTask,
        adsorbate_counts,
        catalyst_defaults,
        fit_element_reference,
    )

    true = {"O": 0.8, "H": -0.5, "C": -2.0}
    graphs, energies, names = [], [], []
    for k, ads in enumerate((["O"], ["O", "H"], ["H"], ["C", "H", "H", "H"], ["C"], ["O", "H"])):
        slab = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
        add_adsorbate(slab, ads[0], 1.5, "fcc")
        for extra in ads[1:]:
            add_adsorbate(slab, extra, 2.5, "fcc", offset=(0.3, 0.0))
        slab.set_tags([0] * 4 + [1] * 8 + [2] * len(ads))
        graphs.append(atoms_graph(slab))
        energies.append(sum(true[s] for s in ads) + 0.01 * (-1) ** k)
        names.append("".join(ads))
    data = CatalystSamples(graphs, torch.tensor(energies), list("abcdef"), ["train"] * 6, names, np.zeros(6, bool), "h")
    assert adsorbate_counts(graphs[3])[ELEMENT_INDEX["H"]] == 3
    reference, residual = fit_element_reference(data, np.arange(6))
    for element, value in true.items():
        assert float(reference[ELEMENT_INDEX[element]]) == pytest.approx(value, abs=0.02)
    assert float(residual) < 0.02
    assert torch.count_nonzero(reference) == 3
    assert CatalystTask(data).head_config(catalyst_defaults(reference="elements"))["reference"] == "elements"
    assert "reference" not in CatalystTask(data).head_config(catalyst_defaults())


def test_a_trained_model_knows_its_labels_elements_and_its_starting_weights(tmp_path):
    from phenograd.surrogate.model import Surrogate, default_encoder_config, load_checkpoint
    from phenograd.surrogate.train_catalyst import CatalystTask, catalyst_defaults
    from phenograd.surrogate.trainer import train_ensemble

    graphs = []
    for metal in ("Cu", "Fe", "Cu"):
        slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
        slab.symbols[4] = metal
        add_adsorbate(slab, "N", 1.5, "fcc")
        slab.set_tags([0] * 4 + [1] * 8 + [2])
        graphs.append(atoms_graph(slab))
    data = CatalystSamples(
        graphs, torch.tensor([0.1, -0.2, 0.05]), list("abc"), ["train"] * 3, ["N"] * 3, np.zeros(3, bool), "h"
    )
    cfg = catalyst_defaults(members=1, epochs=1, hidden=8, layers=1)
    encoder = default_encoder_config("catalyst", 8, 1)
    start = Surrogate("catalyst", encoder, {"hidden": 8}).encoder.state_dict()
    init = {"config": encoder, "state": start, "elements": ["H", "Au"]}
    train_ensemble(CatalystTask(data), tmp_path / "m.pt", cfg, progress=False, init_encoder=init)
    assert load_checkpoint(tmp_path / "m.pt", "catalyst")[1]["meta"]["elements"] == ["H", "N", "Fe", "Cu", "Au"]
    train_ensemble(CatalystTask(data), tmp_path / "scratch.pt", cfg, progress=False)
    assert load_checkpoint(tmp_path / "scratch.pt", "catalyst")[1]["meta"]["elements"] == ["N", "Fe", "Cu"]
