"""The published ``mlarray`` 0.0.x package: its files (safe reading, migration, upgrade on write) and its API (mixins and CLI functions)."""
