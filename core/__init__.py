"""Shared plumbing below the four layers (simulators -> datasets -> surrogate -> optimize):
atomic file writes, the package's error types, unfinished-run files, paths. Every layer may import
it; it imports nothing of phenograd's.
"""
