"""`python -m annlab.study list | run NAME [overrides] | check NAME` (see annlab.studies.cli)."""

import sys

from annlab.studies.cli import main

if __name__ == "__main__":
    sys.exit(main())
