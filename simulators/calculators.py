"""Named ASE calculators: the catalyst fidelity ladder's ground truths, and plug-ins by import path.

A calculator is named by a *spec* string:

* ``emt`` — ASE's EMT (``ase.calculators.emt:EMT``): fast, deterministic, a toy for adsorbates
  (its H, C, N, O parameters are marked "just for fun" in ASE's source). Tests and the quick demo.
* ``chgnet`` — CHGNet 0.3.0, the universal potential whose weights ship inside the ``chgnet`` wheel
  (Deng et al., Nat. Mach. Intell. 2023; trained on the Materials Project trajectories, PBE/PBE+U).
* ``sevennet`` — SevenNet-0 (11 July 2024 weights) from the ``sevenn`` wheel (Park et al., JCTC 2024;
  trained on the same MPtrj data).
* ``module:factory`` — any importable Python callable that returns an ASE calculator. **This runs
  code**, exactly like installing a Python plug-in: only name modules you trust. The value must be a
  dotted module path, one colon and a dotted attribute (``[A-Za-z_][A-Za-z0-9_]*`` parts); file paths,
  spaces, brackets, quotes or anything that is not an identifier are refused before any import.

Canonical specs are what rows are keyed by, so EMT keeps its historical spec
``ase.calculators.emt:EMT`` and the named potentials map to factories in this module.
:func:`calculator_info` returns the provenance every stored label records (package, version, model).

Both potentials run on one thread per process (workers parallelise instead) and on CUDA when a
GPU is present (``PHENOGRAD_DEVICE=cpu`` forces the CPU).
"""

from __future__ import annotations

import importlib
import os
import re
import warnings
from functools import lru_cache

from phenograd.core.errors import InputError, one_line

EMT_SPEC = "ase.calculators.emt:EMT"
NAMED = {
    "emt": EMT_SPEC,
    "chgnet": "phenograd.simulators.calculators:chgnet",
    "sevennet": "phenograd.simulators.calculators:sevennet",
}
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_SPEC_PATTERN = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}(\.{_IDENTIFIER})*")
MAX_SPEC_LENGTH = 200


def calculator_spec(spec: str | None) -> str:
    """Canonical spec of a calculator name or ``module:factory`` path; None means EMT.

    Raises InputError for anything else (before importing anything): see the module docstring.
    """
    if spec is None:
        return EMT_SPEC
    if not isinstance(spec, str):
        raise InputError(f"calculator: expected a name or module:factory, got {type(spec).__name__}")
    text = spec.strip()
    if text.lower() in NAMED:
        return NAMED[text.lower()]
    if len(text) > MAX_SPEC_LENGTH or not _SPEC_PATTERN.fullmatch(text):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(
            f"bad calculator {shown!r}: use {', '.join(NAMED)} or a Python import path "
            "module.path:factory (identifiers only; file paths are refused)"
        )
    if any(part.startswith("__") for part in re.split(r"[.:]", text)):
        raise InputError(f"bad calculator {text!r}: dunder names are refused")
    return text


def calculator_name(spec: str | None) -> str:
    """Short display name: emt, chgnet, sevennet, or the plug-in's spec."""
    canonical = calculator_spec(spec)
    return next((name for name, s in NAMED.items() if s == canonical), canonical)


@lru_cache(maxsize=8)
def _factory(spec: str):
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"calculator {spec!r}: cannot import {module_name} ({one_line(exc)})") from None
    factory = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise InputError(f"calculator {spec!r}: {module_name} has no {attr!r}")
    if not callable(factory):
        raise InputError(f"calculator {spec!r}: {attr} is not callable")
    return factory


@lru_cache(maxsize=8)
def get_calculator(spec: str | None = None):
    """One ASE calculator instance per spec and process (built by calling its factory)."""
    spec = calculator_spec(spec)
    try:
        calc = _factory(spec)()
    except InputError:
        raise
    except Exception as exc:  # a plug-in may raise anything while constructing
        raise InputError(f"calculator {spec!r} failed to construct: {type(exc).__name__}: {one_line(exc)}") from None
    if not hasattr(calc, "get_potential_energy") and not hasattr(calc, "calculate"):
        raise InputError(f"calculator {spec!r}: factory returned {type(calc).__name__}, not an ASE calculator")
    return calc


def _device() -> str:
    import torch

    wanted = os.environ.get("PHENOGRAD_DEVICE", "").strip().lower()
    if wanted in ("cpu", "cuda"):
        return wanted
    return "cuda" if torch.cuda.is_available() else "cpu"


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _require(package: str, name: str):
    try:
        return importlib.import_module(package)
    except ImportError:
        raise InputError(
            f"calculator {name}: the {package} package is not installed "
            "(make setup installs it; pip install -e . in a custom environment)"
        ) from None


class _Supported:
    """Mixin: the chemical symbols a potential has embeddings for, as ``supported_elements``."""

    supported_elements: frozenset[str]


def chgnet():
    """CHGNet 0.3.0 (weights from the chgnet wheel) as an ASE calculator, one torch thread."""
    _require("chgnet", "chgnet")
    import torch
    from ase.data import chemical_symbols
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(1)
    # CHGNet converts a grad-carrying tensor to a float on every call and warns each time.
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad", category=UserWarning)

    class PhenogradCHGNet(CHGNetCalculator, _Supported):
        # CHGNet's atom embedding covers Z = 1..94 (MPtrj's elements).
        supported_elements = frozenset(chemical_symbols[1:95])

        def calculate(self, atoms=None, properties=None, system_changes=None, task=None):
            # CHGNet's default task "efsm" takes a second backward pass for the stress on every call: a
            # fixed-cell relaxation never reads it, and energy and forces come out bit for bit the same
            # without it (29 % less time per BFGS step on a 37-atom slab, measured). Stress and magnetic
            # moments are computed when asked for (a cell filter asks for stress every step).
            properties = properties or ["energy", "forces"]
            if task is None:  # CHGNet's tasks: e, ef, em, efs, efsm
                task = "efsm" if "magmoms" in properties else "efs" if "stress" in properties else "ef"
            super().calculate(atoms, properties, system_changes, task=task)

    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter count and device on stdout
        return PhenogradCHGNet(use_device=_device())


def sevennet():
    """SevenNet-0 (weights from the sevenn wheel) as an ASE calculator, one torch thread."""
    _require("sevenn", "sevennet")
    import torch
    from sevenn.calculator import SevenNetCalculator

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns that no tensor-product accelerator is installed
        calc = SevenNetCalculator("7net-0", device=_device())
    from ase.data import chemical_symbols

    calc.supported_elements = frozenset(chemical_symbols[int(z)] for z in calc.type_map)  # type_map: Z -> index
    return calc


def calculator_info(spec: str | None) -> dict:
    """Provenance of a calculator's labels: name, canonical spec, package, version and model (JSON-ready)."""
    canonical = calculator_spec(spec)
    name = calculator_name(canonical)
    if name == "emt":
        return {"name": "emt", "spec": canonical, "package": "ase", "version": _package_version("ase"), "model": "EMT"}
    if name == "chgnet":
        return {
            "name": "chgnet",
            "spec": canonical,
            "package": "chgnet",
            "version": _package_version("chgnet"),
            "model": "CHGNet 0.3.0 (MPtrj, PBE/PBE+U)",
        }
    if name == "sevennet":
        return {
            "name": "sevennet",
            "spec": canonical,
            "package": "sevenn",
            "version": _package_version("sevenn"),
            "model": "SevenNet-0 (7net-0, MPtrj, PBE/PBE+U)",
        }
    package = canonical.split(".")[0].split(":")[0]
    return {
        "name": canonical,
        "spec": canonical,
        "package": package,
        "version": _package_version(package),
        "model": canonical,
    }
