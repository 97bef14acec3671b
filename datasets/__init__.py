"""phenograd.datasets."""
