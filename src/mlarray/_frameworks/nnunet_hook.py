"""How nnU-Net v2 finds ``MLArrayIO``.

nnU-Net (2.8) has no plugin interface for readers. It picks one in two ways:

1. by file ending, from the list ``nnunetv2.imageio.reader_writer_registry.LIST_OF_IO_CLASSES``
   (fingerprinting, planning, when ``dataset.json`` names no reader), and
2. by class name, stored in the plans (``"image_reader_writer": "MLArrayIO"``) or given as
   ``dataset.json``'s ``"overwrite_image_reader_writer"``, through
   ``recursive_find_reader_writer_by_name``, which imports the modules *inside the folder*
   ``nnunetv2/imageio`` and nothing else. Preprocessing, prediction export and the trainer's
   validation do this in fresh ``spawn`` worker processes, and every CLI command in a fresh
   interpreter.

Importing :mod:`mlarray.nnunet` covers (1) in that process (:func:`register`). Only a module in that
folder covers (2) everywhere, so :func:`install` (``python -m mlarray.nnunet install``, once per
environment) writes a small module there whose ``__getattr__`` imports ``MLArrayIO`` from mlarray
when, and only when, nnU-Net asks for that name: other look-ups never import mlarray, and a missing
or broken mlarray makes nnU-Net report its own "Unable to find reader writer class" instead of
breaking its search. We chose this over patching nnU-Net's functions (lost in every new process)
and over a ``.pth`` start-up hook (runs in every Python process of the environment).
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Optional, Sequence

from .._errors import MLArrayError
from ..optpkg import optional_import

__all__ = ["register", "install", "uninstall", "is_installed", "shim_path", "main"]

SHIM_NAME = "mlarray_reader_writer.py"
_MARK = "# mlarray nnU-Net hook, format 1"
_SHIM = f'''{_MARK}: written by `python -m mlarray.nnunet install`, removed by `... uninstall`.
# nnU-Net looks reader/writers up by class name among the modules of this folder, in every
# process it starts; this module answers for the one name "MLArrayIO" and imports mlarray only then.


def __getattr__(name):
    if name != "MLArrayIO":
        raise AttributeError(name)
    try:
        from mlarray.nnunet import MLArrayIO
    except ImportError as exc:
        raise AttributeError(f"MLArrayIO is unavailable: mlarray with its nnunet extra is not importable ({{exc}})")
    return MLArrayIO
'''


def register() -> None:
    """Make nnU-Net choose ``MLArrayIO`` for the file ending ``.mla`` in this process (idempotent).

    Warns once when the look-up module is not installed: this process then reads ``.mla``, but
    nnU-Net's CLI commands and worker processes fail with nnU-Net's own "Unable to determine a
    reader for file ending .mla" / "Unable to find reader writer class", which cannot name the fix.
    """
    from nnunetv2.imageio import reader_writer_registry as registry

    from .nnunet_io import MLArrayIO

    if not any(getattr(c, "__name__", None) == "MLArrayIO" for c in registry.LIST_OF_IO_CLASSES):
        registry.LIST_OF_IO_CLASSES.append(MLArrayIO)
        if not is_installed():
            warnings.warn(f"nnU-Net's command-line tools and worker processes cannot find MLArrayIO yet ({SHIM_NAME} "
                          "is missing from nnunetv2/imageio); run once: python -m mlarray.nnunet install",
                          UserWarning, stacklevel=3)


def shim_path() -> str:
    """Where :func:`install` writes its module: inside the installed ``nnunetv2/imageio``."""
    nnunetv2_imageio = optional_import("nnunetv2.imageio", feature="python -m mlarray.nnunet", extra="nnunet")

    # the package's folder (its __path__; __file__ is Optional in the module type)
    return os.path.join(os.path.abspath(nnunetv2_imageio.__path__[0]), SHIM_NAME)


def is_installed() -> bool:
    """Whether nnU-Net can find ``MLArrayIO`` by name in any process (the module is in place)."""
    return _read(shim_path()) == _SHIM


def install() -> str:
    """Write the look-up module into ``nnunetv2/imageio`` (atomically; idempotent). Returns its path.

    Run it again after reinstalling or upgrading nnunetv2 (a new copy of the package lacks it).
    """
    path = shim_path()
    current = _read(path)
    if current == _SHIM:
        return path
    if current is not None and not current.startswith(_MARK):
        raise MLArrayError(f"{path} exists and was not written by mlarray; move it away, then run "
                           "`python -m mlarray.nnunet install` again")
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(_SHIM)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise MLArrayError(f"cannot write {path} ({exc.strerror or exc}); run `python -m mlarray.nnunet install` "
                           "as the user who installed nnunetv2 (e.g. in the image build), or give the "
                           "reader by name only inside one process (import mlarray.nnunet)") from None
    return path


def uninstall() -> bool:
    """Remove the look-up module (only ours). Returns whether one was removed."""
    path = shim_path()
    current = _read(path)
    if current is None or not current.startswith(_MARK):
        return False
    os.unlink(path)
    return True


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m mlarray.nnunet install | uninstall | status``; problems print one line, no traceback."""
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except MLArrayError as exc:  # a missing nnunetv2 (MissingDependencyError) included
        print(f"python -m mlarray.nnunet: {exc}", file=sys.stderr)
        return 1


def _run(args: list) -> int:
    command = args[0] if args else "status"
    if command == "install":
        print(f"nnU-Net finds MLArrayIO by name in every process: {install()}")
    elif command == "uninstall":
        print("removed" if uninstall() else "nothing to remove", shim_path())
    elif command == "status":
        state = "installed" if is_installed() else "not installed (run: python -m mlarray.nnunet install)"
        print(f"{shim_path()}: {state}")
        return 0 if is_installed() else 1
    else:
        print("usage: python -m mlarray.nnunet [install | uninstall | status]", file=sys.stderr)
        return 2
    return 0
