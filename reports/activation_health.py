"""The activation_health figure alone: `python reports/activation_health.py [options]`."""

import sys

from annlab.report import main

if __name__ == "__main__":
    sys.exit(main(figures=["activation_health"]))
