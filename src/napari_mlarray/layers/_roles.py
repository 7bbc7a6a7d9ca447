"""Roles of the layers made from one file, recorded as ``layer.metadata["mlarray_role"]``."""

__all__ = ["ROLE_BOXES", "ROLE_IMAGE", "ROLE_LABELS"]

ROLE_IMAGE, ROLE_LABELS, ROLE_BOXES = "image", "labels", "boxes"

