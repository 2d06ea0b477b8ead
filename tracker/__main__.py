"""`python -m tracker` runs the command line (the scheduler starts its children this way)."""

from tracker.cli.app import run

if __name__ == "__main__":
    run()
