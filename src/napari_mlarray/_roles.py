"""Roles of the layers made from one file, recorded as ``layer.metadata["mlarray_role"]``."""

ROLE_IMAGE, ROLE_LABELS, ROLE_BOXES = "image", "labels", "boxes"
