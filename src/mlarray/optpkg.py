"""Optional dependencies, imported on first use with an error that says which extra brings them.

The core install is ``blosc2`` + ``numpy``; every other package sits behind an extra in
``pyproject.toml``. Modules that need one call :func:`optional_import` where they first need it
(deferring the import keeps ``import mlarray`` fast), instead of hand-writing ``try/except ImportError``
with their own wording (nibabel's ``optpkg`` is the model)::

    nib = optional_import("nibabel", feature="reading NIfTI", extra="convert")

A missing package raises :class:`mlarray.MissingDependencyError` (an ``MLArrayError`` and an
``ImportError``) naming the feature and the ``pip install 'mlarray[extra]'`` line. A package that
is installed but fails to import for another reason (a broken build, a missing system library)
keeps its own ``ImportError``: telling the user to install what they have would mislead.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import MissingDependencyError

__all__ = ["optional_import", "have"]


def optional_import(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`~mlarray.MissingDependencyError`.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"nibabel"`` or ``"highdicom.seg"``.
    feature : str
        What the caller is doing, for the message ("reading NIfTI").
    extra : str
        The ``mlarray`` extra that installs it ("convert").

    Returns
    -------
    module
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the package is there but one of its own dependencies is missing: keep that message
        raise MissingDependencyError(top, feature, extra) from exc


def have(module: str) -> bool:
    """Whether ``module`` can be imported (imports it when it can)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
