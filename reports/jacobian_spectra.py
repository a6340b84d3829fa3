"""The jacobian_spectra figure alone: `python reports/jacobian_spectra.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main(only=["jacobian_spectra"]))
