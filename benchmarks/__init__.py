"""Benchmarks: scripts that measure phenograd against its peers and write their sections of BENCHMARKS.md.

Run one from the repository root as a module, e.g. `python -m benchmarks.xfoil_throughput`; they import each
other's helpers as `benchmarks.<name>` and the library as `phenograd`, with no path edits.
"""
