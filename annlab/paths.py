"""Where annlab's conf/ and experiments/ are: in the package (a wheel) or the source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# Inside the package when it was installed from a wheel, else at the top of the source checkout
# (an editable install).
ROOT = _PACKAGE if (_PACKAGE / "conf" / "config.yaml").is_file() else _PACKAGE.parent
CONF = ROOT / "conf"
