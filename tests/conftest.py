"""Shared fixtures. Tests use the real xfoil binary (make setup installs it)."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PHENOGRAD = [sys.executable, "-m", "phenograd"]


@pytest.fixture
def cli_env():
    """Environment for CLI subprocesses: the repo's interpreter, no inherited XFOIL overrides."""
    env = dict(os.environ)
    env.pop("PHENOGRAD_XFOIL", None)
    env.pop("PHENOGRAD_XFOIL_FPE_SHIM", None)
    return env
