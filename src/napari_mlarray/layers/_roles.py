"""Roles of the layers made from one file, recorded as ``layer.metadata["mlarray_role"]``."""

__all__ = ["ROLE_BOXES", "ROLE_IMAGE", "ROLE_LABELS", "UNITS_KEY"]

ROLE_IMAGE, ROLE_LABELS, ROLE_BOXES = "image", "labels", "boxes"

# The file's units per layer axis (e.g. ["mm", "mm", "mm"]) where a layer records them in its metadata;
# the reader gives them to the layers as napari units from the start (see napari_mlarray.viewer._units).
UNITS_KEY = "mlarray_units"
