"""Sphinx configuration for the teamculture documentation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import teamculture

sys.path.insert(0, str(Path(__file__).parent))  # for _ext helpers
os.environ.setdefault("MPLBACKEND", "Agg")

project = "teamculture"
author = "The teamculture developers"
copyright = "2026, the teamculture developers"
release = teamculture.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 bundled into _static: formulas render offline (NHS networks)
    "sphinx_copybutton",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "_ext.catalogue",
    "_ext.public_refs",  # references by area path or bare name resolve to the public documented name
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.codeobj.json", "sg_execution_times.rst", "api/generated/*.examples"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
# result classes are built by the functions that return them: show no constructor signature
# (it would list every field, private ones included)
autodoc_class_signature = "separated"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

doctest_global_setup = """
import numpy as np
import pandas as pd
import teamculture as tc
pd.set_option("display.width", 100)
pd.set_option("display.max_columns", 12)
"""

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "show_signature": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"teamculture {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 8,
    "show_toc_level": 2,
}
html_static_path: list[str] = []
nitpicky = True  # every cross-reference must resolve (with -W in CI: a dead reference fails the build)

# copy buttons on code blocks, without the >>> / ... prompts and the output lines
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
