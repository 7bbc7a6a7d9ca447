"""Package metadata: one version, written once."""

import importlib.metadata

import mlarray


def test_version_is_the_installed_distributions():
    # pyproject.toml reads src/mlarray/_version.py; a wheel or editable install must agree with it
    assert mlarray.__version__ == importlib.metadata.version("mlarray")
    assert mlarray.__version__[0].isdigit()
