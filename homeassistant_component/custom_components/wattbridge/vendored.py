"""Make the wattbridge library that the release copies into this folder importable.

The HACS release carries wattbridge's code in ``_vendor/`` beside this file (see
homeassistant_component/scripts/build-release.py), so Home Assistant needs no
``wattbridge`` package from an index and installs only wattbridge's own dependencies,
none of which clash with its pins. In a development checkout there is no ``_vendor/``
and the installed (editable) wattbridge is used.
"""

from __future__ import annotations

import sys
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "_vendor"


def use_vendored_wattbridge() -> bool:
    """Put ``_vendor/`` first on the import path if it exists; True if it does.

    First, so that an older wattbridge someone installed into HA's environment by hand
    does not shadow the one this component was released with.
    """
    if not (VENDOR / "wattbridge" / "__init__.py").is_file():
        return False
    path = str(VENDOR)
    if path not in sys.path:
        sys.path.insert(0, path)
    return True


VENDORED = use_vendored_wattbridge()
"""True if this component runs the wattbridge copied into it (a release), not an
installed one. Importing this module is what makes the copy importable."""
