"""``python -m teamculture`` runs the ``teamculture`` command."""

import sys

from teamculture.cli import main

sys.exit(main())
