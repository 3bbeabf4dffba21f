"""pytest plugin: let nbval wait longer for a cell's output messages on a loaded machine.

nbval reads a finished cell's outputs with a fixed 5-second timeout per message; when both cores
are busy the kernel's IOPub thread can lag past that, and a correct cell fails with "Timeout of 5
seconds exceeded waiting for output". Cell execution itself stays bounded by --nbval-cell-timeout.
"""
OUTPUT_TIMEOUT = 120  # seconds


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's notebook cells
            item.output_timeout = OUTPUT_TIMEOUT
