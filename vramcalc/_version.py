"""The package version (one place; read by pyproject.toml and every response)."""

__version__ = "0.1.0"
