"""``python -m local_lambda``: the same command as ``local-lambda``."""

from local_lambda.cli import main

if __name__ == "__main__":
    main()
