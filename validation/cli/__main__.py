"""``python -m validation.cli``: the same as the ``cdverify`` console script."""

import sys

from . import main

sys.exit(main())
