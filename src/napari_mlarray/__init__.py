"""napari plugin for MLArray (``.mla``) files: reader, writers and "Save as MLArray…".

The hooks only delegate; mapping between files and layers lives in ``_mapping``.
``attach_box_views(layer)`` makes a boxes layer built by a script (``Shapes(*read_mla(p)[-1][:2])``)
switch between 2D rectangles and 3D wireframes; layers opened in a viewer switch already.
"""

from ._box_views import attach as attach_box_views
from ._reader import napari_get_reader, read_mla
from ._writer import save_layers, write_image, write_labels, write_layers, write_shapes

__all__ = ["napari_get_reader", "read_mla", "write_image", "write_labels", "write_shapes", "write_layers",
           "save_layers", "attach_box_views"]
