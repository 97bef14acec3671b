"""Read and write airfoil coordinate files (.dat) in Selig and Lednicer formats.

Selig: an optional name line, then x y pairs from the trailing edge over the upper
surface to the leading edge and back along the lower surface.
Lednicer: a name line, a line with the point counts of the upper and lower
surfaces (e.g. "61. 61."), then the upper surface from leading to trailing edge,
then the lower surface from leading to trailing edge.

Text after the coordinate block (authors' notes, links) is ignored, as is the
plot-domain line of MSES files. Whatever the file, :func:`read_dat` returns a Selig-ordered float array (N, 2) or
raises :class:`InputError` with a one-line reason naming the file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phenograd.core.atomic import write_text_atomic
from phenograd.core.errors import InputError

MAX_DAT_BYTES = 2_000_000
MAX_POINTS = 10_000


@dataclass
class DatAirfoil:
    """A parsed .dat file: name and Selig-ordered coordinates (N, 2) in the file's units."""

    name: str
    coordinates: np.ndarray
    format: str  # "selig" or "lednicer"


def _numbers(line: str) -> list[float] | None:
    try:
        return [float(v) for v in line.replace(",", " ").split()]
    except ValueError:
        return None


def parse_dat(text: str, source: str = "<text>") -> DatAirfoil:
    """Parse the text of a .dat file; `source` names it in error messages."""
    lines = [(i + 1, ln.strip()) for i, ln in enumerate(text.splitlines())]
    lines = [(n, ln) for n, ln in lines if ln]
    if not lines:
        raise InputError(f"{source}: empty file, no coordinates")
    first_nums = _numbers(lines[0][1])
    if (
        first_nums is not None
        and len(first_nums) == 2
        and all(math.isfinite(v) for v in first_nums)
        and abs(first_nums[0]) <= 2
    ):
        name, body = Path(source).stem, lines
    else:
        name, body = lines[0][1][:80], lines[1:]
    if not body:
        raise InputError(f"{source}: only a name line, no coordinates")

    if len(body) > 1 and (nums := _numbers(body[0][1])) is not None and len(nums) == 4:
        body = body[1:]  # MSES/ISES files carry a plot-domain line "xmin xmax ymin ymax" here

    rows = []
    for lineno, line in body:
        nums = _numbers(line)
        if nums is None and len(rows) >= 10:
            break  # a trailing note after the coordinate block (common in UIUC files)
        if nums is None or len(nums) != 2:
            raise InputError(f"{source}: line {lineno}: expected two numbers 'x y', got {line[:40]!r}")
        if not all(math.isfinite(v) for v in nums):
            raise InputError(f"{source}: line {lineno}: non-finite coordinate {line[:40]!r}")
        rows.append(nums)
        if len(rows) > MAX_POINTS:
            raise InputError(f"{source}: more than {MAX_POINTS} points; not an airfoil coordinate file")

    head = rows[0]
    is_lednicer = head[0] > 2 and head[1] > 2 and float(head[0]).is_integer() and float(head[1]).is_integer()
    if is_lednicer:
        n_up, n_lo = int(head[0]), int(head[1])
        pts = np.asarray(rows[1:], dtype=float)
        if len(pts) != n_up + n_lo:
            raise InputError(
                f"{source}: Lednicer header promises {n_up}+{n_lo} points but the file has {len(pts)} (truncated?)"
            )
        upper, lower = pts[:n_up], pts[n_up:]
        if np.allclose(upper[0], lower[0]):
            lower = lower[1:]
        coords = np.vstack([upper[::-1], lower])
        fmt = "lednicer"
    else:
        coords = np.asarray(rows, dtype=float)
        fmt = "selig"
    if len(coords) < 10:
        raise InputError(f"{source}: only {len(coords)} coordinate points; an airfoil needs at least 10")
    return DatAirfoil(name=name, coordinates=coords, format=fmt)


def read_dat(path: str | os.PathLike) -> DatAirfoil:
    """Read a Selig or Lednicer .dat file; raise InputError naming the file on any problem.

    Args:
        path: the .dat file (a name line, then x y pairs: Selig order, or Lednicer's two surfaces
            after a line of their point counts).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    data = p.read_bytes()[: MAX_DAT_BYTES + 1]
    if len(data) > MAX_DAT_BYTES:
        raise InputError(f"{p}: larger than {MAX_DAT_BYTES // 1_000_000} MB; not an airfoil coordinate file")
    if b"\x00" in data:
        raise InputError(f"{p}: binary file, not airfoil coordinates")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        if sum(ch < " " and ch not in "\r\n\t" for ch in text) > 0:
            raise InputError(f"{p}: binary file, not airfoil coordinates") from None
    return parse_dat(text, source=str(p))


def format_dat(name: str, coordinates: np.ndarray, fmt: str = "selig") -> str:
    """Text of a .dat file for Selig-ordered coordinates (N, 2)."""
    coords = np.asarray(coordinates, dtype=float)
    safe_name = " ".join(str(name).split()) or "airfoil"
    if fmt == "selig":
        body = "".join(f"{x: .8f} {y: .8f}\n" for x, y in coords)
        return f"{safe_name}\n{body}"
    if fmt == "lednicer":
        le = int(np.argmin(coords[:, 0]))
        upper = coords[: le + 1][::-1]
        lower = coords[le:]
        out = [f"{safe_name}\n", f"{len(upper)}. {len(lower)}.\n", "\n"]
        out += [f"{x: .8f} {y: .8f}\n" for x, y in upper]
        out.append("\n")
        out += [f"{x: .8f} {y: .8f}\n" for x, y in lower]
        return "".join(out)
    raise InputError(f"unknown .dat format {fmt!r}; use 'selig' or 'lednicer'")


def write_dat(path: str | os.PathLike, name: str, coordinates: np.ndarray, fmt: str = "selig") -> None:
    """Write a .dat file atomically (a temp file renamed over the target).

    Args:
        path: the file to write (replaced only once the new one is complete).
        name: the first line (whitespace collapsed; "airfoil" if empty).
        coordinates: a Selig-ordered contour (N, 2).
        fmt: "selig" or "lednicer".
    """
    write_text_atomic(path, format_dat(name, coordinates, fmt))
