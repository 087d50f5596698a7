"""``python -m wattbridge`` runs the command line."""

import sys

from wattbridge._cli import main

sys.exit(main())
