"""Behaviour attached to live viewers holding MLArray layers: box views, upright anatomical 2D views
with orientation markers, consistent units, and a 3D level for large paintable segmentations."""
