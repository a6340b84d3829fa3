"""The training_curves figure alone: `python reports/training_curves.py [options]`."""

import sys

from annlab.report import main

if __name__ == "__main__":
    sys.exit(main(figures=["training_curves"]))
