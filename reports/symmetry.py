"""The symmetry figure alone: `python reports/symmetry.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["symmetry"]))
