import sys

from worker.runner import main

sys.exit(main())
