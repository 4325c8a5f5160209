"""``python -m zsseg`` = the ``zsseg`` command."""

import sys

from .cli import main

sys.exit(main())
