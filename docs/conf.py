"""Sphinx configuration of the sk_cria documentation.

Fast build, gallery not executed (what CI runs)::

    python -m sphinx -W --keep-going -b html -D plot_gallery=0 docs docs/_build/html

Full build, every example run on the data in ``../shared/data``::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys
from pathlib import Path

import sk_cria

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
os.environ.setdefault("SK_CRIA_DATA", str((ROOT.parent / "shared" / "data").resolve()))
# Examples run headless.
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(ROOT))

project = "sk_cria"
author = "sk_cria developers"
copyright = "2025, sk_cria developers"
release = sk_cria.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

# -- autodoc / autosummary / numpydoc ------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
# The estimators inherit dozens of skorch / scikit-learn methods; list only
# what each class documents itself.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- cross-references -----------------------------------------------------------
intersphinx_mapping = {}  # no network in CI: external names are left as text
nitpicky = False
suppress_warnings = ["config.cache"]

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sk_cria {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
}
html_static_path = []

# -- sphinx-gallery -------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "abort_on_example_error": True,
}


def _skip_metadata_request_setters(app, what, name, obj, skip, options):
    # scikit-learn generates set_fit_request & co. on every estimator; their
    # docstrings point into scikit-learn's own site, which is not linked here.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_setters)
