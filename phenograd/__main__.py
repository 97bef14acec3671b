"""`python -m phenograd` runs the command line."""

import sys

from phenograd.cli import main

if __name__ == "__main__":
    sys.exit(main())
