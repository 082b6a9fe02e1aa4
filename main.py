"""Start the inspector GUI: ``python main.py [FILE] [--trust] [--screenshot PNG]``.

Without FILE it opens the demo checkpoint ``resources/demo_mnist_cnn.pth`` when that file is there.
torch is not imported here: the window paints first, the file is loaded on a worker thread.
"""

import sys

from inspector.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
