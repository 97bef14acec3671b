"""Ranking objectives for catalyst design: distance to a target E_ads, or a Sabatier volcano.

Both are written as a *score* to minimise, in eV, so one ranking code serves both:

* target: score = |E_ads - target| (per adsorbate targets allowed).
* volcano: a two-sided linear Sabatier volcano in the adsorption energy (Nørskov's
  descriptor picture; Batchelor et al. 2019, Pedersen et al. 2021 use it per site of
  high-entropy alloys): log activity = -max(weak_slope (E - optimum), strong_slope (optimum - E)) / kT,
  score = -kT log activity, i.e. 0 at the optimum and growing on either leg.
  ``activity`` returns exp(-score / kT), in (0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from phenograd.core.errors import InputError


@dataclass(frozen=True)
class Volcano:
    """Two-sided Sabatier volcano.

    Args:
        optimum: the E_ads (eV) of the volcano's top.
        kT: the energy (eV) that turns the score into an activity, exp(-score / kT).
        weak_slope, strong_slope: slopes of the weak- and strong-binding legs.
    """

    optimum: float
    kT: float = 0.1
    weak_slope: float = 1.0
    strong_slope: float = 1.0

    def score(self, e):
        """eV, >= 0, differentiable for tensors."""
        d = e - self.optimum
        if isinstance(d, torch.Tensor):
            return torch.maximum(self.weak_slope * d, -self.strong_slope * d)
        return max(self.weak_slope * d, -self.strong_slope * d)

    def activity(self, e):
        s = self.score(e)
        return torch.exp(-s / self.kT) if isinstance(s, torch.Tensor) else math.exp(-s / self.kT)


@dataclass(frozen=True)
class Objective:
    """target: {adsorbate: E_ads target (eV)}, or volcano (one descriptor for every adsorbate)."""

    target: dict | None = None
    volcano: Volcano | None = None

    @property
    def kind(self) -> str:
        return "volcano" if self.volcano is not None else "target"

    def score(self, e, adsorbate: str):
        """Score to minimise (eV) of E_ads e (float or tensor) for an adsorbate."""
        if self.volcano is not None:
            return self.volcano.score(e)
        d = e - self.target[adsorbate]
        return d.abs() if isinstance(d, torch.Tensor) else abs(d)

    def reference(self, adsorbate: str) -> float:
        """The E_ads this objective aims at for an adsorbate (target, or the volcano's optimum)."""
        return self.volcano.optimum if self.volcano is not None else self.target[adsorbate]

    def describe(self) -> str:
        if self.volcano is not None:
            v = self.volcano
            return f"volcano (optimum {v.optimum:+.3f} eV, kT {v.kT:g} eV, slopes {v.weak_slope:g}/{v.strong_slope:g})"
        return "target " + ", ".join(f"{a} {t:+.3f} eV" for a, t in self.target.items())


def _number(value, name: str, where: str, positive: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or (positive and value <= 0)
    ):
        raise InputError(f"{where}: {name} must be a {'positive ' if positive else ''}number, got {value!r}")
    return float(value)


def parse_objective(raw, adsorbates, where: str = "space") -> Objective:
    """Objective from the [objective] table: target = number | {ads = number}, or volcano = {...}."""
    if not isinstance(raw, dict) or not raw:
        raise InputError(f"{where}: no [objective] (give target = E_ads in eV, or volcano = {{optimum = ...}})")
    if ("target" in raw) == ("volcano" in raw) or set(raw) - {"target", "volcano"}:
        raise InputError(f"{where}: [objective] takes exactly one of target or volcano")
    if "target" in raw:
        t = raw["target"]
        if isinstance(t, dict):
            missing = [a for a in adsorbates if a not in t]
            if missing:
                raise InputError(f"{where}: objective.target has no value for adsorbate {missing[0]}")
            return Objective(target={a: _number(t[a], f"objective.target.{a}", where) for a in adsorbates})
        value = _number(t, "objective.target", where)
        return Objective(target={a: value for a in adsorbates})
    v = raw["volcano"]
    if not isinstance(v, dict) or "optimum" not in v or set(v) - {"optimum", "kT", "weak_slope", "strong_slope"}:
        raise InputError(f"{where}: objective.volcano needs optimum (and optionally kT, weak_slope, strong_slope)")
    return Objective(
        volcano=Volcano(
            _number(v["optimum"], "volcano.optimum", where),
            _number(v.get("kT", 0.1), "volcano.kT", where, True),
            _number(v.get("weak_slope", 1.0), "volcano.weak_slope", where, True),
            _number(v.get("strong_slope", 1.0), "volcano.strong_slope", where, True),
        )
    )


def rank(scores) -> "list[int]":
    """Ranks (0 = best) of scores (lower is better); ties broken by index, NaN last."""
    import numpy as np

    s = np.asarray(scores, float)
    order = np.lexsort((np.arange(len(s)), np.where(np.isnan(s), np.inf, s)))
    ranks = np.empty(len(s), int)
    ranks[order] = np.arange(len(s))
    return ranks.tolist()


def recall_at_k(true_scores, predicted_scores, k: int) -> float:
    """Share of the true top k (lowest true scores) that are among the top k by predicted scores.

    Args:
        true_scores: the simulator's score per candidate (lower is better).
        predicted_scores: the surrogate's score per candidate, same order.
        k: how many of the best count.
    """
    import numpy as np

    t, p = np.asarray(true_scores, float), np.asarray(predicted_scores, float)
    if len(t) != len(p):
        raise ValueError("true and predicted scores differ in length")
    k = min(k, len(t))
    if k == 0:
        return float("nan")
    true_top = set(np.argsort(np.where(np.isnan(t), np.inf, t), kind="stable")[:k].tolist())
    pred_top = set(np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")[:k].tolist())
    return len(true_top & pred_top) / k
