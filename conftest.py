"""Root conftest: pytest loads it for every run in this repository, including a single chapter run as a
test (`pytest --nbval-lax book/06_autoencoders.ipynb`), which never loads tests/conftest.py.

It registers the plugin that lets nbval wait longer for a finished cell's output messages on a loaded
machine (see tests/nbval_patience.py), so one chapter alone is as reliable as `make test`.
"""
pytest_plugins = ["tests.nbval_patience"]
