"""``python -m exptool`` runs the ``exp`` command line."""

from exptool.cli.app import main

if __name__ == "__main__":
    main()
