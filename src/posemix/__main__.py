"""``python -m posemix ...``: the same command line as ``posemix`` (works under torchrun)."""

import sys

from posemix.cli import main

if __name__ == "__main__":
    sys.exit(main())
