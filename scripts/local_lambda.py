"""Run the local Lambda server without installing the project.

python scripts/local_lambda.py --functions configs/functions.yaml --port 9001
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "addon"))

from local_lambda.cli import main

if __name__ == "__main__":
    main()
