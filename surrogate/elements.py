"""The element vocabulary of atom graphs: one input column per atomic number, H (Z = 1) to Bi (Z = 83).

A structure's node inputs are element probabilities over this vocabulary: a one-hot row for a concrete atom,
any distribution for a soft composition. The encoder's first linear layer turns that row into an embedding, so
an embedding over atomic numbers and a differentiable composition are the same thing. The vocabulary is fixed
by the periodic table, not by a dataset, so every model takes the same inputs; what a model has *seen* is
recorded in its checkpoint (meta["elements"]) and predictors refuse elements outside it.

Catalyst graphs of version 1 (models trained before 2026-12-04) used an 11-element vocabulary
(LEGACY_ELEMENTS); widen_legacy_columns moves such a model's input weights to the atomic-number columns,
which leaves its predictions unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from ase.data import chemical_symbols

from phenograd.core.errors import InputError

MAX_Z = 83  # Bi: covers the transition metals and the p-block metals of the catalyst space
ELEMENTS: tuple[str, ...] = tuple(chemical_symbols[1 : MAX_Z + 1])
ELEMENT_INDEX = {e: i for i, e in enumerate(ELEMENTS)}

#: The vocabulary of catalyst graph version 1: adsorbate atoms then EMT's metals.
LEGACY_ELEMENTS = ("H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")


def widen_legacy_columns(weight: torch.Tensor) -> torch.Tensor:
    """A first-layer weight (out, len(LEGACY_ELEMENTS) + k) of a version-1 model as (out, len(ELEMENTS) + k):
    each legacy element's column moves to its atomic number's, the k trailing (tag) columns stay last, every
    other element's column is zero."""
    n_old = len(LEGACY_ELEMENTS)
    out = weight.new_zeros(weight.shape[0], len(ELEMENTS) + weight.shape[1] - n_old)
    out[:, [ELEMENT_INDEX[e] for e in LEGACY_ELEMENTS]] = weight[:, :n_old]
    out[:, len(ELEMENTS) :] = weight[:, n_old:]
    return out


def model_elements(meta: dict) -> tuple[str, ...]:
    """The elements a catalyst model was trained on (meta["elements"]; LEGACY_ELEMENTS for older files)."""
    seen = meta.get("elements")
    if seen is None:
        return LEGACY_ELEMENTS
    if not isinstance(seen, list) or not all(isinstance(e, str) and e in ELEMENT_INDEX for e in seen):
        raise InputError("meta.elements must list element symbols (damaged file?)")
    return tuple(seen)


def elements_of_graphs(graphs) -> list[str]:
    """The elements present (non-zero probability) in atom graphs with ``element_probs``, by atomic number;
    [] for graphs without them (airfoils)."""
    seen: set[int] = set()
    for g in graphs:
        probs = getattr(g, "element_probs", None)
        if probs is not None:
            seen.update(int(k) for k in torch.nonzero(probs.sum(0)).flatten())
    return [ELEMENTS[k] for k in sorted(seen)]


def union_elements(*groups) -> list[str]:
    """The union of element lists, by atomic number."""
    return sorted({e for g in groups for e in (g or [])}, key=ELEMENT_INDEX.__getitem__)


def unseen_elements(symbols: Iterable[str], seen: Iterable[str]) -> list[str]:
    """The distinct symbols (in order of first appearance) outside `seen`."""
    known, out = set(seen), []
    for s in symbols:
        if s not in known and s not in out:
            out.append(s)
    return out
