"""The outcomes figure alone: `python reports/outcomes.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["outcomes"]))
