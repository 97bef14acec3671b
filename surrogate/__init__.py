"""phenograd.surrogate."""
