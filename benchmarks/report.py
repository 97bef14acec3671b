"""Write one benchmark's section into BENCHMARKS.md, leaving the other sections alone."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

from phenograd.core.atomic import write_text_atomic

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEvery number here was measured by the script and command named in its section.\n"


def machine() -> str:
    """'N cores, CPU model, RAM, OS' of this machine, plus the 1-minute load average."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores, {model}, {mem:.0f} GiB, {platform.system()} {platform.release()}; load average {load:.1f} at start"


def one_thread() -> str:
    """Put every timed library on one core: torch's intra-op threads and the BLAS and OpenMP pools that NumPy and
    SciPy call (NeuralFoil, AeroSandbox's solver), so that rates on this shared 2-core machine compare like for
    like (NumPy's OpenBLAS otherwise takes both cores). Returns the phrase for a report's machine line."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)
    return "one thread (torch, and NumPy's BLAS)"


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section '## {title}' of BENCHMARKS.md atomically."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip() + "\n\n" + section
    write_text_atomic(BENCHMARKS, text.rstrip() + "\n")


def publish(title: str, body: str, write: bool = True) -> None:
    """Print a benchmark's section and (unless write is False) put it into BENCHMARKS.md."""
    print(body)
    if write:
        write_section(title, body)


def labelled_path(text: str, parser, option: str = "--compare") -> tuple[str, str]:
    """(label, path) of a LABEL=PATH option value; a one-line argparse error (exit 2) when either part is missing."""
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        parser.error(f"{option} needs LABEL=MODEL.pt, got {text!r}")
    return label, path
