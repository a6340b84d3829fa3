"""Build every report PDF: `python reports/build.py [options]`."""

import sys

from annlab.read.report import main

if __name__ == "__main__":
    sys.exit(main())
