"""`python -m supervisor ...`: the same command line as `supervisor`."""

import sys

from supervisor.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
