"""phenograd.optimize."""
