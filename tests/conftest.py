"""Shared fixtures. Tests use the real xfoil binary (make setup installs it)."""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]

# Property tests draw the same examples on every run (a seed derived from each test, no example database), so
# `make test` passes or fails the same way twice and in fresh clones; benchmarks/fuzz.py explores with random,
# recorded seeds instead. HYPOTHESIS_PROFILE=explore randomizes a pytest run by hand.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
PHENOGRAD = [sys.executable, "-m", "phenograd"]


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`): on small
    graphs, threads cost 5-10x when the cores are shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def small_labelled_catalyst_db(tmp_path_factory):
    """A labelled EMT catalyst dataset of 24 systems on Pt, Cu, Au, Ni whose seed gives held-out rows (test and
    ood splits) beside training ones. Read it, never write it."""
    from phenograd.datasets.catalyst_generate import CatalystRequest, generate

    db = tmp_path_factory.mktemp("labelled") / "lab.db"
    generate(
        db,
        CatalystRequest(n=24, seed=5, size=(2, 2), layers=3, per_slab=4, elements=("Pt", "Cu", "Au", "Ni")),
        workers=1,
        progress=False,
    )
    return db


@pytest.fixture
def cli_env():
    """Environment for CLI subprocesses: the repo's interpreter, no inherited XFOIL overrides."""
    env = dict(os.environ)
    env.pop("PHENOGRAD_XFOIL", None)
    env.pop("PHENOGRAD_XFOIL_FPE_SHIM", None)
    return env


def _untrained_catalyst_model(folder: Path, readout: str, reference: str | None = None, n_layers: int = 2) -> Path:
    import torch

    from phenograd.surrogate.elements import ELEMENT_INDEX, ELEMENTS
    from phenograd.surrogate.model import build_ensemble, default_encoder_config, save_checkpoint

    enc = default_encoder_config("catalyst", 16, n_layers)
    head = {"hidden": 16, **({"readout": readout} if readout != "all" else {})}
    ens = build_ensemble("catalyst", 2, enc, {**head, **({"reference": reference} if reference else {})}, seed=7)
    if reference:
        per_element = torch.zeros(len(ELEMENTS))
        per_element[ELEMENT_INDEX["O"]], per_element[ELEMENT_INDEX["H"]] = -0.7, 0.3
        for m in ens.members:
            m.head.set_reference(per_element)
    for m in ens.members:
        m.head.set_normalisation(torch.tensor(-1.0), torch.tensor(1.0))
        with torch.no_grad():  # larger output weights: predictions that differ visibly between structures
            m.head.net[-1].weight.mul_(20.0)
            # one-hot inputs over 83 elements get a default init scaled by 1/sqrt(86): restore the scale of the
            # 14-input vocabulary these fixtures were tuned on
            m.encoder.embed.weight.mul_((m.encoder.embed.in_features / 14) ** 0.5)
    path = folder / "untrained.pt"
    save_checkpoint(path, ens.eval(), "untrained", {})
    return path


@pytest.fixture(scope="session")
def catalyst_model(tmp_path_factory):
    """A small, untrained catalyst ensemble checkpoint (2 members, hidden 16, 2 layers, the all-atom readout; head
    normalisation: mean -1 eV, std 1 eV, so its 'seen' E_ads range is -3.5 to +1.5 eV).
    Real model code and file format; for tests of exactness, gradients and plumbing, not accuracy."""
    return _untrained_catalyst_model(tmp_path_factory.mktemp("catmodel"), "all")


@pytest.fixture(scope="session")
def catalyst_model_adsorbate_readout(tmp_path_factory):
    """catalyst_model with the adsorbate-only readout (heads.AdsorptionHead)."""
    return _untrained_catalyst_model(tmp_path_factory.mktemp("catmodel_ads"), "adsorbate")


@pytest.fixture(scope="session")
def catalyst_model_element_reference(tmp_path_factory):
    """catalyst_model with the adsorbate readout and a linear element reference (O -0.7 eV, H +0.3 eV per atom)."""
    return _untrained_catalyst_model(tmp_path_factory.mktemp("catmodel_ref"), "adsorbate", "elements")


@pytest.fixture(scope="session")
def untrained_catalyst_model(tmp_path_factory):
    """untrained_catalyst_model(readout, reference=None, n_layers=2): the path of such an untrained checkpoint."""

    def build(readout: str, reference: str | None = None, n_layers: int = 2) -> Path:
        return _untrained_catalyst_model(tmp_path_factory.mktemp("catmodel_var"), readout, reference, n_layers)

    return build


# A small screening space: 3 metals, fcc(111) 2x2x3, O on fcc and hcp sites, unary and binary compositions at
# step 0.5, two decorations each; target E_ads -1 eV.
SCREEN_SPACE = """
metals = ["Pt", "Cu", "Au"]
facets = ["111"]
adsorbates = ["O"]
sites = ["fcc", "hcp"]
size = [2, 2]
layers = 3
decorations = 2
[compositions]
n_metals = [1, 2]
step = 0.5
[objective]
target = -1.0
"""


@pytest.fixture
def space_text() -> str:
    """The small screening space's TOML text (for variations of it)."""
    return SCREEN_SPACE


@pytest.fixture
def write_space(tmp_path):
    """write_space(text=the small space, name="space.toml"): the path of a space file written in tmp_path."""

    def write(text: str = SCREEN_SPACE, name: str = "space.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def borrowed_references():
    """borrowed_references(spec): EMT's gas references under another calculator's name. An exploding potential's
    own gas molecules blow up too (or stall at an overflowing force norm, depending on NumPy), and the tests that
    use it are about the slab's relaxation, not the references."""
    from phenograd.simulators.adsorption import References, gas_references

    def borrow(spec: str):
        emt = gas_references(None)
        return References(spec, emt.gas, emt.mu)

    return borrow
