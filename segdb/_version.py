"""segdb's version, in one place: `segdb.__version__`, `segdb --version` and the package metadata
(pyproject.toml reads it from here: ``[tool.hatch.version]``) all take it from this line."""

__version__ = "0.1.0"
