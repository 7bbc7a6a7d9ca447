"""An ``.mla`` file <-> napari layer data: world convention, lazy axis views, colours (no Qt)."""
