"""NeuralFoil-compatible entry points: an AeroSandbox + NeuralFoil script switches to phenograd by changing
one import.

    import phenograd as nf          # was: import neuralfoil as nf
    aero = nf.get_aero_from_kulfan_parameters(kulfan, alpha=np.linspace(-5, 15, 21), Re=1e6)
    aero["CL"], aero["CD"], aero["CM"], aero["analysis_confidence"], aero["Top_Xtr"], aero["Bot_Xtr"]

The three functions take NeuralFoil 0.3.3's arguments, by the same names and defaults, broadcast them the
same way (every input a scalar or a 1-D array of one common length N; Kulfan weights (8,) or (8, N)) and
return a dict of float64 NumPy arrays of shape (N,) (N = 1 when every input is a scalar) under NeuralFoil's
keys. They evaluate phenograd's airfoil surrogate (the shipped model, or ``model=``) without gradients; for
gradients use ``load_surrogate(domain="airfoil").predict_airfoil`` on torch tensors.

Differences from NeuralFoil (what an AeroSandbox user should know):

- Returned keys: the six coefficients only (CL, CD, CM, analysis_confidence, Top_Xtr, Bot_Xtr);
  NeuralFoil's boundary-layer keys (``upper_bl_theta_i``, ``upper_bl_H_i``, ``upper_bl_ue/vinf_i`` and the
  lower ones) are not predicted. ``return_std=True`` adds phenograd's calibrated ensemble spreads CL_std,
  CD_std (of ln CD, i.e. relative), CM_std, Top_Xtr_std, Bot_Xtr_std.
- ``analysis_confidence`` is the ensemble's mean predicted probability that XFOIL converges at the point
  (at 160 panels, or at 200 or 240 where 160 fails, as phenograd's verification runs it; NeuralFoil's is its own
  learned confidence); both lie in [0, 1]. Top_Xtr and Bot_Xtr are clipped to
  [0, 1] as NeuralFoil clips them.
- ``n_crit``: the shipped model's XFOIL data hold Ncrit 9 only, so its Ncrit input is untrained; any other
  value is refused with an InputError rather than answered with an extrapolation. With ``model=`` (a
  checkpoint of one's own, trained on other Ncrit values) every value is passed on to the model.
- ``xtr_upper``, ``xtr_lower``: forced transition is not modelled; only 1.0 (free transition) is accepted.
- ``model_size``: accepted (NeuralFoil's size names) and ignored: phenograd has one model per checkpoint;
  ``model=`` selects another checkpoint.
- No Mach number or compressibility (NeuralFoil 0.3.3 has none either: incompressible XFOIL data) and no
  control-surface deflection: deflect the coordinates first (e.g. AeroSandbox's
  ``Airfoil.add_control_surface``) and call ``get_aero_from_coordinates``.
- Coordinates are normalised as NeuralFoil normalises them (leading edge = the point farthest from the
  trailing-edge midpoint, chord 1, trailing edge on the x axis) with the same corrections (alpha plus the
  rotation, Re times the chord, CM moved back to the given frame's quarter chord), but the contour itself
  becomes the surrogate's graph: it is not refitted to 8 Kulfan weights per side first.
- Bad input raises phenograd's InputError (a ValueError) with a one-line message; it is checked first
  (contour validity, CST ranges, finite angles, positive Reynolds numbers).
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import check_airfoil
from phenograd.datasets.cst import N_WEIGHTS, check_cst
from phenograd.datasets.datfile import read_dat

#: NeuralFoil 0.3.3's model sizes; model_size must be one of them and is otherwise ignored.
NEURALFOIL_MODEL_SIZES = ("xxsmall", "xsmall", "small", "medium", "large", "xlarge", "xxlarge", "xxxlarge")
KULFAN_KEYS = ("upper_weights", "lower_weights", "leading_edge_weight", "TE_thickness")
OUTPUT_KEYS = ("analysis_confidence", "CL", "CD", "CM", "Top_Xtr", "Bot_Xtr")
TRAINED_NCRIT = 9.0


@lru_cache(maxsize=1)
def _shipped_model():
    from .predict import load_surrogate

    return load_surrogate(domain="airfoil")


def _model(model):
    """The AirfoilSurrogate to use: the shipped one (None), a loaded one, or a checkpoint path."""
    if model is None:
        return _shipped_model()
    if hasattr(model, "predict_from_embedding"):
        return model
    from .predict import load_surrogate

    return load_surrogate(model, domain="airfoil")


def _array(value, name: str) -> np.ndarray:
    """A scalar or 1-D array of finite floats; InputError naming the argument otherwise."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be a number or a 1-D array of numbers, got {type(value).__name__}", parameter=name
        ) from None
    if arr.ndim > 1:
        raise InputError(f"{name} must be a number or a 1-D array, got shape {arr.shape}", parameter=name)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite values", parameter=name)
    return arr


def _broadcast(rows: dict[str, np.ndarray]) -> tuple[int, dict[str, np.ndarray]]:
    """NeuralFoil's rule: every input is a scalar or of one common length N; all become arrays (N,)."""
    n = 1
    for name, arr in rows.items():
        size = arr.size if arr.ndim else 1
        if size > 1:
            if n not in (1, size):
                raise InputError(
                    f"inputs must be scalars or arrays of one common length; {name} has {size} "
                    f"values where another input has {n}",
                    parameter=name,
                )
            n = size
        elif size == 0:
            raise InputError(f"{name} is empty", parameter=name)
    return n, {name: np.array(np.broadcast_to(arr.reshape(-1), (n,))) for name, arr in rows.items()}


def _operating_point(alpha, Re, n_crit, xtr_upper, xtr_lower, model_size, own_model: bool) -> dict[str, np.ndarray]:
    if model_size not in NEURALFOIL_MODEL_SIZES:
        raise InputError(
            f"model_size must be one of {', '.join(NEURALFOIL_MODEL_SIZES)} (it is ignored: phenograd "
            f"has one model), got {model_size!r}",
            parameter="model_size",
        )
    rows = {"alpha": _array(alpha, "alpha"), "Re": _array(Re, "Re"), "n_crit": _array(n_crit, "n_crit")}
    if np.any(rows["Re"] <= 0):
        raise InputError("Re must be positive", parameter="Re")
    if not own_model and np.any(rows["n_crit"] != TRAINED_NCRIT):
        raise InputError(
            f"n_crit must be {TRAINED_NCRIT:g}: the shipped model was trained on XFOIL data at Ncrit "
            f"{TRAINED_NCRIT:g} only (pass model= for a model trained on other values)",
            parameter="n_crit",
        )
    for name, value in (("xtr_upper", xtr_upper), ("xtr_lower", xtr_lower)):
        if np.any(_array(value, name) != 1.0):
            raise InputError(
                f"{name} must be 1.0: forced transition is not modelled by phenograd's surrogate", parameter=name
            )
    return rows


def _predict(model, shapes, shape_index: np.ndarray, op: dict[str, np.ndarray], return_std: bool) -> dict:
    """Per-case predictions: shapes (CST tensor (U, 18) or a list of contours), case k on shape shape_index[k]."""
    with torch.no_grad():
        embedding = model.shape_embedding(shapes)
        out = model.predict_from_embedding(
            embedding,
            torch.as_tensor(op["alpha"]),
            torch.as_tensor(op["Re"]),
            torch.as_tensor(op["n_crit"]),
            shape_index=torch.as_tensor(shape_index, dtype=torch.long),
        )
    result = {"analysis_confidence": out["confidence"]}
    for key in ("CL", "CD", "CM", "Top_Xtr", "Bot_Xtr"):
        result[key] = out[key]
    for key in ("Top_Xtr", "Bot_Xtr"):
        result[key] = result[key].clamp(0.0, 1.0)
    if return_std:
        result.update({f"{k}_std": out[f"{k}_std"] for k in ("CL", "CD", "CM", "Top_Xtr", "Bot_Xtr")})
    return {k: v.double().numpy().reshape(-1) for k, v in result.items()}


def _kulfan_rows(kulfan_parameters) -> dict[str, np.ndarray]:
    """The 18 CST inputs of NeuralFoil's Kulfan dict as named scalars or 1-D arrays."""
    if not isinstance(kulfan_parameters, dict):
        raise InputError(
            "kulfan_parameters must be a dict with keys " + ", ".join(KULFAN_KEYS), parameter="kulfan_parameters"
        )
    missing = [k for k in KULFAN_KEYS if k not in kulfan_parameters]
    if missing:
        raise InputError(f"kulfan_parameters lacks {', '.join(missing)}", parameter="kulfan_parameters")
    rows = {}
    for side in ("upper_weights", "lower_weights"):
        try:
            w = np.asarray(kulfan_parameters[side], dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"kulfan_parameters[{side!r}] must be numbers", parameter="kulfan_parameters") from None
        if w.ndim not in (1, 2) or len(w) != N_WEIGHTS:
            raise InputError(
                f"kulfan_parameters[{side!r}] must hold {N_WEIGHTS} weights, shape ({N_WEIGHTS},) or "
                f"({N_WEIGHTS}, N), got shape {w.shape}",
                parameter="kulfan_parameters",
            )
        for i in range(N_WEIGHTS):
            rows[f"{side}[{i}]"] = _array(w[i], f"kulfan_parameters[{side!r}][{i}]")
    for key in ("leading_edge_weight", "TE_thickness"):
        rows[key] = _array(kulfan_parameters[key], f"kulfan_parameters[{key!r}]")
    return rows


def get_aero_from_kulfan_parameters(
    kulfan_parameters: dict,
    alpha,
    Re,
    n_crit=9.0,
    xtr_upper=1.0,
    xtr_lower=1.0,
    model_size: str = "xlarge",
    *,
    model=None,
    return_std: bool = False,
) -> dict:
    """NeuralFoil's ``get_aero_from_kulfan_parameters`` on phenograd's airfoil surrogate (differences: see the
    module's docstring).

    Args:
        kulfan_parameters: {"upper_weights": (8,) or (8, N), "lower_weights": (8,) or (8, N),
            "leading_edge_weight": scalar or (N,), "TE_thickness": scalar or (N,)}: Kulfan (CST) parameters,
            N1 = 0.5, N2 = 1.0, NeuralFoil's convention (phenograd's CST vector in another container).
        alpha: angle of attack in degrees, scalar or (N,).
        Re: Reynolds number, scalar or (N,).
        n_crit: critical amplification factor; 9 for the shipped model (see the module's docstring).
        xtr_upper, xtr_lower: forced transition x/c; only 1.0 (free transition).
        model_size: one of NeuralFoil's size names; ignored.
        model: phenograd keyword: an airfoil checkpoint path or a loaded AirfoilSurrogate (default the shipped).
        return_std: phenograd keyword: also return the calibrated ensemble spreads (<key>_std).

    Returns:
        {"analysis_confidence", "CL", "CD", "CM", "Top_Xtr", "Bot_Xtr": float64 arrays (N,)}.
    """
    rows = _kulfan_rows(kulfan_parameters)
    op = _operating_point(alpha, Re, n_crit, xtr_upper, xtr_lower, model_size, model is not None)
    n, rows = _broadcast({**rows, **op})
    params = np.stack([rows[k] for k in rows if k not in op], axis=1)  # (N, 18) in CST order
    unique, shape_index = np.unique(params, axis=0, return_inverse=True)
    for row in unique:
        check_cst(row, "kulfan_parameters")
    surrogate = _model(model)
    return _predict(
        surrogate,
        torch.as_tensor(unique, dtype=torch.float32),
        shape_index.reshape(-1),
        {k: rows[k] for k in op},
        return_std,
    )


def _frame(coordinates: np.ndarray) -> tuple[float, float, float, float]:
    """(rotation in degrees, chord, x, y of the leading edge) that normalise a Selig contour: the leading edge is
    the point farthest from the trailing-edge midpoint; rotating by the angle (counter-clockwise) puts the
    trailing edge on the x axis."""
    te = 0.5 * (coordinates[0] + coordinates[-1])
    le = coordinates[int(np.argmax(np.linalg.norm(coordinates - te, axis=1)))]
    chord_vec = te - le
    return -math.degrees(math.atan2(chord_vec[1], chord_vec[0])), float(np.linalg.norm(chord_vec)), *map(float, le)


def get_aero_from_coordinates(
    coordinates,
    alpha,
    Re,
    n_crit=9.0,
    xtr_upper=1.0,
    xtr_lower=1.0,
    model_size: str = "xlarge",
    *,
    model=None,
    return_std: bool = False,
) -> dict:
    """NeuralFoil's ``get_aero_from_coordinates`` on phenograd's airfoil surrogate (differences: see the
    module's docstring).

    Args:
        coordinates: (N_points, 2) contour in Selig order (upper trailing edge, over the upper surface to the
            leading edge, back along the lower surface), in any length unit, position and rotation: it is
            normalised as NeuralFoil does, alpha, Re and CM corrected accordingly.
        alpha, Re, n_crit, xtr_upper, xtr_lower, model_size, model, return_std: as in
            get_aero_from_kulfan_parameters.

    Returns:
        {"analysis_confidence", "CL", "CD", "CM", "Top_Xtr", "Bot_Xtr": float64 arrays (N,)}.
    """
    try:
        raw = np.asarray(coordinates, dtype=float)
    except (TypeError, ValueError):
        raise InputError("coordinates must be an (N_points, 2) array of numbers", parameter="coordinates") from None
    contour = check_airfoil(raw, "coordinates")  # InputError for a malformed contour; normalised
    rotation, chord, x_le, y_le = _frame(raw)
    op = _operating_point(alpha, Re, n_crit, xtr_upper, xtr_lower, model_size, model is not None)
    n, op = _broadcast(op)
    local = {"alpha": op["alpha"] + rotation, "Re": op["Re"] * chord, "n_crit": op["n_crit"]}
    out = _predict(_model(model), [torch.as_tensor(contour)], np.zeros(n, dtype=np.int64), local, return_std)
    # CM about the given frame's quarter chord (0.25, 0): move it from the normalised airfoil's quarter chord.
    cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    dx = x_le + 0.25 * chord * cos - 0.25
    dy = y_le - 0.25 * chord * sin
    out["CM"] = out["CM"] - out["CL"] * dx + out["CD"] * dy
    return out


def get_aero_from_dat_file(
    filename: str | os.PathLike,
    alpha,
    Re,
    n_crit=9.0,
    xtr_upper=1.0,
    xtr_lower=1.0,
    model_size: str = "xlarge",
    *,
    model=None,
    return_std: bool = False,
) -> dict:
    """NeuralFoil's ``get_aero_from_dat_file`` on phenograd's airfoil surrogate: the contour of a Selig or
    Lednicer .dat file through get_aero_from_coordinates (differences: see the module's docstring).

    Args:
        filename: the .dat file.
        alpha, Re, n_crit, xtr_upper, xtr_lower, model_size, model, return_std: as in
            get_aero_from_kulfan_parameters.
    """
    return get_aero_from_coordinates(
        read_dat(filename).coordinates,
        alpha,
        Re,
        n_crit,
        xtr_upper,
        xtr_lower,
        model_size,
        model=model,
        return_std=return_std,
    )
