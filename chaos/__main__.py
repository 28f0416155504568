"""``python -m chaos`` (what ``make chaos`` runs)."""

import sys

from .run import main

sys.exit(main())
