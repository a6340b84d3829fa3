"""The seed's activation pictures, no store needed: `python reports/activations.py [--out FILE.pdf]`."""

import sys

from annlab.read.activation_page import main

if __name__ == "__main__":
    sys.exit(main())
