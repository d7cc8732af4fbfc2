import sys

from cloud.entry import main

sys.exit(main())
