"""Input from strangers: limits counted before expansion, converter input guards, terminal-safe text."""
