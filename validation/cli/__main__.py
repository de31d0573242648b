"""``python -m validation.cli``: the same as the ``cdverify`` console script."""

import sys

from validation.cli import main

sys.exit(main())
