# Everything is declared in pyproject.toml. This file stays for `scrapyd-deploy`
# (scrapyd-client 2.0.3), which builds the egg with `python setup.py bdist_egg` and, when no
# setup.py exists, writes its own one without the package data the crawl needs.
from setuptools import setup

setup()
