"""The vanishing_depth figure alone: `python reports/vanishing_depth.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["vanishing_depth"]))
