"""Build script: setup.cfg holds the metadata; this maps the top-level schemas/ into the package.

The JSON Schemas live in ``schemas/`` at the top of the repository (the design card's layout)
and are installed as the package ``llmclient.schemas``, so that ``importlib.resources`` finds
them in an installed copy.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["llmclient", "llmclient.*"]) + ["llmclient.schemas"],
    package_dir={"llmclient.schemas": "schemas"},
)
