"""The training_curves figure alone: `python reports/training_curves.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["training_curves"]))
