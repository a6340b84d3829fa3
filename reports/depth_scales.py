"""The depth_scales figure alone: `python reports/depth_scales.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["depth_scales"]))
