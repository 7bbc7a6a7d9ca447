"""The package version: the one place it is written (pyproject.toml reads it through hatch)."""

__version__ = "1.0.0.dev0"
