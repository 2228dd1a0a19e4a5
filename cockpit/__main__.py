"""`python -m cockpit` runs the same command as the `cockpit` script."""

import sys

from cockpit.cli import main

sys.exit(main())
