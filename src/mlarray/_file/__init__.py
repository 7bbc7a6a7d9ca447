"""The ``.mla`` file itself: byte layout, format versions, frame checks, checksums, atomic saves,
whether an existing output is complete."""
