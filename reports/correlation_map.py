"""The correlation_map figure alone: `python reports/correlation_map.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["correlation_map"]))
