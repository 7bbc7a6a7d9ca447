"""MLArray files <-> napari layer data: pure mapping code (no Qt; napari only for colormap classes).

This module only re-exports; the work is split by concern:

* :mod:`._geometry` — the world convention (anatomical systems shown as ``(S, P, L)``), the
  per-file :class:`~._geometry._Geometry` and layer transform <-> affine conversions.
* :mod:`._layers_in` — reader side: an opened MLArray -> image/labels layers (one per channel).
* :mod:`._boxes` — ``bbox`` boxes <-> Shapes rectangles, both directions.
* :mod:`._layers_out` — writer side: Image/Labels/Shapes layers -> MLArray / metadata-only Meta.
* :mod:`._style` — colours (classes, boxes, channels) and contrast limits.
* :mod:`._roles` — the ``mlarray_role`` values of the layers made from one file.
"""

from __future__ import annotations

# Private helpers are re-exported too, for existing importers (``_writer``); new code imports
# them from the module that defines them.
from ._boxes import _boxes_layer, _group_boxes, bbox_from_shapes  # noqa: F401
from ._geometry import _Geometry, data_to_world_matrix, file_affine_from_world, napari_world_affine  # noqa: F401
from ._layers_in import layer_data_from_path, layers_from_mlarray
from ._layers_out import (_base_of, _fresh_meta, _layer_spatial, _source_meta,  # noqa: F401
                          meta_from_shapes, mlarray_from_layer)
from ._roles import ROLE_BOXES, ROLE_IMAGE, ROLE_LABELS
from ._style import _box_colors, _contrast_limits, _labels_colormap  # noqa: F401

__all__ = [
    "layers_from_mlarray",
    "layer_data_from_path",
    "napari_world_affine",
    "file_affine_from_world",
    "mlarray_from_layer",
    "bbox_from_shapes",
    "meta_from_shapes",
    "data_to_world_matrix",
    "ROLE_IMAGE",
    "ROLE_LABELS",
    "ROLE_BOXES",
]
