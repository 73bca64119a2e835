"""`python -m gitops` runs the CLI."""

from gitops.cli.main import main

if __name__ == "__main__":
    main()
