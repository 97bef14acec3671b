"""phenograd: differentiable surrogate-physics design.

The public Python API. Submodules load on first use, so `import phenograd` is cheap:

    from phenograd import naca, run_polar, XfoilSettings
    polar = run_polar(naca("2412"), [0, 2, 4], XfoilSettings(reynolds=1e6))

Layers (imports run one way, left to right):
    phenograd.simulators -> phenograd.datasets -> phenograd.surrogate -> phenograd.optimize
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # simulators
    "XfoilSettings": "phenograd.simulators.xfoil",
    "PolarResult": "phenograd.simulators.xfoil",
    "run_polar": "phenograd.simulators.xfoil",
    "parse_alpha_spec": "phenograd.simulators.xfoil",
    "RansSettings": "phenograd.simulators.openfoam",
    "RansResult": "phenograd.simulators.openfoam",
    "run_rans": "phenograd.simulators.openfoam",
    "InputError": "phenograd.core.errors",
    "PhenogradError": "phenograd.core.errors",
    # airfoil geometry and data
    "naca": "phenograd.datasets.airfoil",
    "cst_coordinates": "phenograd.datasets.cst",
    "fit_cst": "phenograd.datasets.cst",
    "check_airfoil": "phenograd.datasets.airfoil",
    "real_airfoils": "phenograd.datasets.airfoil",
    "split_of": "phenograd.datasets.airfoil",
    "read_dat": "phenograd.datasets.datfile",
    "write_dat": "phenograd.datasets.datfile",
    "AirfoilRequest": "phenograd.datasets.airfoil_generate",
    "generate_airfoil_dataset": ("phenograd.datasets.airfoil_generate", "generate"),
    "PolarStore": "phenograd.datasets.polar_store",
    "dataset_info": "phenograd.datasets.polar_info",
    # surrogates
    "load_surrogate": "phenograd.surrogate.predict",
    "AirfoilSurrogate": "phenograd.surrogate.predict",
    "PretrainConfig": "phenograd.surrogate.pretrain",
    "pretrain_encoder": ("phenograd.surrogate.pretrain", "pretrain"),
    "load_unlabelled": "phenograd.surrogate.pretrain_data",
    # NeuralFoil-compatible entry points (switch from `import neuralfoil as nf` by changing the import)
    "get_aero_from_kulfan_parameters": "phenograd.surrogate.neuralfoil_compat",
    "get_aero_from_coordinates": "phenograd.surrogate.neuralfoil_compat",
    "get_aero_from_dat_file": "phenograd.surrogate.neuralfoil_compat",
    # airfoil design
    "AirfoilProblem": "phenograd.optimize.airfoil_problem",
    "OperatingPoint": "phenograd.optimize.airfoil_problem",
    "Constraints": "phenograd.optimize.airfoil_problem",
    "load_airfoil_problem": ("phenograd.optimize.airfoil_problem", "load_problem"),
    "daedalus_problem": "phenograd.optimize.airfoil_problem",
    "optimize_airfoil": ("phenograd.optimize.airfoil", "optimize"),
    "write_airfoil_report": ("phenograd.optimize.airfoil_report", "write_report"),
    # catalyst ground truth
    "adsorption_energy": "phenograd.simulators.adsorption",
    "gas_references": "phenograd.simulators.adsorption",
    "RelaxSettings": "phenograd.simulators.adsorption",
    "AdsorptionResult": "phenograd.simulators.adsorption",
    "Composition": "phenograd.datasets.catalyst",
    "SlabSpec": "phenograd.datasets.catalyst",
    "build_slab": "phenograd.datasets.catalyst",
    "adsorption_sites": "phenograd.datasets.catalyst",
    "place_adsorbate": "phenograd.datasets.catalyst",
    "CatalystRequest": "phenograd.datasets.catalyst_generate",
    "generate_catalyst_dataset": ("phenograd.datasets.catalyst_generate", "generate"),
    "CatalystStore": "phenograd.datasets.catalyst_store",
    "catalyst_dataset_info": ("phenograd.datasets.catalyst_info", "dataset_info"),
    # catalyst design
    "screen": "phenograd.optimize.screen",
    "ScreenResult": "phenograd.optimize.screen",
    "load_space": "phenograd.optimize.space",
    "enumerate_space": "phenograd.optimize.space",
    "FrameEvaluator": "phenograd.optimize.frames",
    "Volcano": "phenograd.optimize.objectives",
    "recall_at_k": "phenograd.optimize.objectives",
    "CompositionProblem": "phenograd.optimize.composition",
    "SearchSettings": "phenograd.optimize.composition",
    "optimize_composition": "phenograd.optimize.composition",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'phenograd' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    return getattr(importlib.import_module(module), attr)
