"""`python -m gitops` runs the CLI."""

from gitops.entry import main

if __name__ == "__main__":
    main()
