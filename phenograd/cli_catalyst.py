"""Catalyst commands of the `phenograd` command line (filled in by the catalyst domain).

`add_commands(simulate_sub, data_sub)` adds subparsers to the `simulate` and
`data` command groups and returns {(command, domain): handler}.
"""

from __future__ import annotations


def add_commands(simulate_sub, data_sub) -> dict:
    return {}
