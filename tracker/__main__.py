"""`python -m tracker` runs the command line (the scheduler starts its children this way).

Layer 5: above cli, its one importer.
"""

from tracker.cli.app import run

if __name__ == "__main__":
    run()
