"""What napari calls through the manifest: reader, writers, "Save as MLArray…", sample data."""
