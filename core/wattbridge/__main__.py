"""``python -m wattbridge`` runs the command line."""

import sys

from wattbridge.cli import main

sys.exit(main())
