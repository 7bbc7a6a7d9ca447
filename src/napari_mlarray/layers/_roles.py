"""Roles of the layers made from one file, recorded as ``layer.metadata["mlarray_role"]``."""

__all__ = ["ROLE_BOXES", "ROLE_IMAGE", "ROLE_LABELS", "UNITS_KEY"]

ROLE_IMAGE, ROLE_LABELS, ROLE_BOXES = "image", "labels", "boxes"

# The file's units per layer axis (e.g. ["mm", "mm", "mm"]); layers start in napari's "pixel" and get
# these while they agree with the viewer's other layers (napari.viewer._units).
UNITS_KEY = "mlarray_units"
