"""Import Blosc2 in napari without loading its HTTP client until something uses it.

Blosc2 imports ``httpx`` (and with it ``rich`` and ``pygments`` styles) at import time for remote
tables, which ``.mla`` files never use; in a napari session that was about a third of Blosc2's
import, paid on the first file a user drops (``benchmarks/napari_open.py``). Before the reader
first imports the format library, :func:`defer_unused_imports` puts a stand-in module for
``httpx`` in ``sys.modules``. ``import httpx`` returns the stand-in (its ``__spec__`` and
``__path__`` are the real package's, so submodule imports work); the first attribute looked up on
it imports the real package, which then replaces the stand-in and fills it, so code that kept the
stand-in sees the real names. The standard library's ``importlib.util.LazyLoader`` cannot do
this on Python < 3.12: a second ``import`` statement reads ``__spec__`` and loads the module.
Nothing is deferred when ``httpx`` is already imported or not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["defer_unused_imports"]

_DEFERRED = ("httpx",)


class _StandIn(types.ModuleType):
    """Stands in for a package until an attribute is looked up (see the module docstring)."""

    def __getattr__(self, attr: str):
        # only names the stand-in lacks get here: the import machinery's (__spec__, __path__,
        # __file__, __loader__, __package__) are set, so ``__version__`` etc. are real uses
        if attr == "__wrapped__":
            raise AttributeError(attr)  # inspect.unwrap probing, not a use
        return getattr(self._load(), attr)

    def _load(self):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        self.__dict__.update(real.__dict__)
        return real


def defer_unused_imports() -> None:
    """Put stand-ins for the modules in ``_DEFERRED`` into ``sys.modules`` (idempotent)."""
    if "blosc2" in sys.modules:
        return  # too late to matter
    for name in _DEFERRED:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        stand_in = _StandIn(name)
        stand_in.__spec__ = spec
        stand_in.__file__, stand_in.__loader__ = spec.origin, spec.loader
        stand_in.__package__ = name
        if spec.submodule_search_locations is not None:
            stand_in.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = stand_in
