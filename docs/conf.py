"""Sphinx configuration: the README as the front page, an API reference built from the docstrings.

Built by ``tox -e docs`` (``sphinx-build -W --keep-going -b html docs docs/_build``): every
warning fails the build, and so does a public name without a page (see ``_check_coverage``).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's sources

import llmclient  # noqa: E402

project = "llmclient"
author = "the llmclient authors"
release = version = llmclient.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
suppress_warnings = ["ref.python"]  # docstrings name values both as llmclient.X and as llmclient.module.X

#: Every module whose ``__all__`` is public; each of its names must be documented somewhere.
PUBLIC_MODULES = ("llmclient", "llmclient.events", "llmclient.cancel", "llmclient.batch", "llmclient.testing")


def public_names() -> set[str]:
    """``module.name`` for every name a user can import from a public module."""
    names = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names.update(f"{module_name}.{name}" for name in module.__all__)
    return names


def _check_coverage(app: Any, env: Any) -> None:
    """Warn (an error under ``-W``) for each public name that no page documents."""
    from sphinx.util import logging

    documented = set(env.get_domain("py").objects)
    for name in sorted(public_names() - documented):
        logging.getLogger(__name__).warning("public name %s has no page in the API reference", name)


def setup(app: Any) -> None:
    app.connect("env-check-consistency", _check_coverage)
