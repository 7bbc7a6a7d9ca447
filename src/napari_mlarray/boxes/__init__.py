"""``bbox`` boxes <-> napari Shapes: box geometry, the boxes layer, and redrawing it per view."""
