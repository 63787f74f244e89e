import sys

from devrun.runner import main

sys.exit(main())
