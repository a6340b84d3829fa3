"""The activation_health figure alone: `python reports/activation_health.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["activation_health"]))
