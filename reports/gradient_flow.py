"""The gradient_flow figure alone: `python reports/gradient_flow.py [options]`."""

import sys

from annlab.report import main

if __name__ == "__main__":
    sys.exit(main(figures=["gradient_flow"]))
