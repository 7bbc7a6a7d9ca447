"""npe2 reader hook: ``.mla`` files -> napari layers (the work is in :mod:`..layers._to_layers`)."""

from __future__ import annotations

import os
from typing import Callable, Optional, Union
from urllib.parse import urlsplit

__all__ = ["napari_get_reader", "read_mla"]

PathOrPaths = Union[str, os.PathLike, list, tuple]


def _is_mla(path: object) -> bool:
    if isinstance(path, str) and "://" in path:  # only then import the format library (see .._lazy_import)
        from mlarray.remote import is_url

        if is_url(path):  # https://host/ct.mla, also with a query (a signed URL)
            return urlsplit(path).path.lower().endswith(".mla")
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(".mla")


def napari_get_reader(path: PathOrPaths) -> Optional[Callable]:
    """Return :func:`read_mla` for a ``.mla`` path (or a list of only ``.mla`` paths), else None."""
    paths = list(path) if isinstance(path, (list, tuple)) else [path]
    if not paths or not all(_is_mla(p) for p in paths):
        return None
    return read_mla


def read_mla(path: PathOrPaths) -> list:
    """Layer data tuples for one ``.mla`` path or a list of them."""
    from .._lazy_import import defer_unused_imports

    defer_unused_imports()  # before the format library imports Blosc2
    from mlarray.remote import is_url

    from .._notify import relayed_warnings
    from .._remote import layer_data_from_url
    from ..layers._geometry import silence_napari_oblique_repeats
    from ..layers._to_layers import layer_data_from_path

    paths = list(path) if isinstance(path, (list, tuple)) else [path]
    out: list = []
    with relayed_warnings():  # so they reach napari's notifications (see .._notify)
        for p in paths:
            if is_url(p):  # opened off the UI thread, with progress (.._remote)
                out.extend(layer_data_from_url(p))
            else:
                out.extend(layer_data_from_path(os.fspath(p)))
    silence_napari_oblique_repeats()  # the plugin has said it once per file (see ..layers._geometry)
    _watch()
    return out


def _watch() -> None:
    """The layers do not exist yet: watch the viewers they will be inserted into (see ..viewer)."""
    import sys

    if "napari" in sys.modules:  # a script reading without napari keeps napari unimported
        from ..viewer._watch import watch_viewers

        watch_viewers()
