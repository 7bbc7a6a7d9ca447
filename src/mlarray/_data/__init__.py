"""Reading and writing the arrays: the writer, read and region-write paths, levels, tiling, memory."""
