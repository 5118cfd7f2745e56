"""``python -m distillwatch ...`` and ``spark-submit .../distillwatch/__main__.py ...``:
the same command line as the ``distillwatch`` console script."""

import sys

from distillwatch.cli import main

if __name__ == "__main__":
    sys.exit(main())
