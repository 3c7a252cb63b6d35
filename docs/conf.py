"""Sphinx configuration of skvae's documentation.

Build it with ``python3 dev.py docs`` from the repository root (that sets up
``.venv-docs`` and runs ``sphinx-build -E -W --keep-going -b html docs
docs/_build/html``); ``python3 dev.py docs --no-gallery`` writes the gallery's
pages without running its examples.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# skvae from this checkout, even without an editable install.
sys.path.insert(0, str(ROOT))

import skvae  # noqa: E402
# sphinx-gallery resolves the names each example imports, whether or not it
# runs them: without the examples run (--no-gallery), nothing has enabled
# scikit-learn's IterativeImputer, and resolving plot_imputation.py's import
# of it failed the build.
from sklearn.experimental import enable_iterative_imputer  # noqa: E402, F401
# Gallery scripts may draw with pyplot; no window is ever opened.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "skvae"
copyright = "2026, the skvae developers"
author = "the skvae developers"
release = skvae.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
# The gallery's folder also holds the scripts and hashes sphinx-gallery copies.
exclude_patterns += ["auto_examples/*.py", "auto_examples/*.ipynb"]

# -- API reference ------------------------------------------------------------
autosummary_generate = True
# Each class's own methods; scikit-learn's mixins add get_params, set_output,
# fit_transform ... (their docstrings link into scikit-learn's own site), and
# set_score_request is the metadata-routing setter scikit-learn generates.
autodoc_default_options = {"members": True, "exclude-members": "set_score_request"}
autodoc_typehints = "none"
# autodoc documents each class's own methods below it; numpydoc's member
# tables would repeat them and want a page for every inherited method.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- MyST (Markdown pages, and benchmarks/RESULTS.md included) ----------------
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# -- The gallery ----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("skvae",),
    "backreferences_dir": "generated/backreferences",
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "matplotlib_animations": False,
    # Every example must run: one that raises fails the build.
    "only_warn_on_example_error": False,
    # Show a cell's last value only when it renders as HTML (a DataFrame),
    # not the Text that a closing fig.suptitle(...) returns.
    "capture_repr": ("_repr_html_",),
}

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skvae {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sg_download_links", "sg_launcher_links"],
}
html_sidebars = {"index": [], "changelog": []}
html_show_sourcelink = False
