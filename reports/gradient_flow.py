"""The gradient_flow figure alone: `python reports/gradient_flow.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["gradient_flow"]))
