"""Writing to a file of the published ``mlarray`` 0.0.x package opened ``r+``: convert it first.

mlarray never writes pickle, and a legacy file cannot be edited in place without leaving it half
legacy, half new. So the first write (a voxel region or the metadata) replaces the whole file
atomically with a v1 file holding the same voxels and the metadata as currently edited; the edit
then goes into the new file. A crash before the rename leaves the legacy file untouched.
"""

from __future__ import annotations

from .._metadata.meta_base import library_write

__all__ = ["upgrade_legacy_file"]


def upgrade_legacy_file(img):
    """Replace ``img``'s legacy file by a v1 file and return the new ``(file store, data)``.

    ``img.meta`` stays the same object; its library-managed fields (layout, statistics the library
    computed, writer) are updated from the new file."""
    from .._data import writer as _writer
    from .._data.array_io import open_store, read_meta

    path, mode, mmap_mode = img.filepath, img.mode, img.mmap_mode
    img._validate()
    data = img._data  # the legacy store, read while the new file is written beside it
    _writer.write_file(path, data, img.meta)
    img._fstore = img._data = None  # release the legacy mapping; its inode is gone after the rename
    store = open_store(path, mode=mode, mmap_mode=mmap_mode, dparams=None)
    new_meta, img._sums_expected = read_meta(store, path)
    with library_write():
        img.meta.copy_from(new_meta, overwrite=True)
    img._level_cache = None
    return store, (store if img.meta.has_array else None)
