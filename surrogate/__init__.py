"""phenograd.surrogate.

Importing the package registers the built-in domains (domain.py's registry); both modules are light.
"""

from . import airfoil_domain, catalyst_domain  # noqa: F401  (each registers its Domain)
