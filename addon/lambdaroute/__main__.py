"""``python -m lambdaroute``: the same command as ``lambda-route``."""

from lambdaroute.cli import main

if __name__ == "__main__":
    main()
