"""`python -m nixfleet` is the `nixfleet` command."""

import sys

from nixfleet.cli import main

sys.exit(main())
