"""pytest sees the firmware's modules the way the board does: firmware/lib on the path."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware", "lib"))
