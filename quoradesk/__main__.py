import sys

from quoradesk.cli import main

sys.exit(main())
