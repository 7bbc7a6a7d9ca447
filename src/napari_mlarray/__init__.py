"""napari plugin for MLArray (``.mla``) files: reader, writers and "Save as MLArray…".

The hooks only delegate; mapping between files and layers lives in ``_mapping``.
"""

from ._reader import napari_get_reader, read_mla
from ._writer import save_layers, write_image, write_labels, write_layers, write_shapes

__all__ = ["napari_get_reader", "read_mla", "write_image", "write_labels", "write_shapes", "write_layers",
           "save_layers"]
