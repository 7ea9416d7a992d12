"""``python -m sigconv``: the same as the ``sigconv`` command."""

import sys

from .cli import main

sys.exit(main())
