"""``python -m caredomain``: the same command-line interface as the ``caredomain`` script."""

import sys

from caredomain.cli import main

if __name__ == "__main__":
    sys.exit(main())
