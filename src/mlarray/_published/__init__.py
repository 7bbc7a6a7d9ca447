"""The published ``mlarray`` 0.0.x package, under one name: *published*.

- :mod:`.files`: reading its files safely (:mod:`.safe_pickle`, the allow-list unpickler) and
  migrating their metadata to the v1 document;
- :mod:`.array_api`, :mod:`.meta_api`, :mod:`.cli_api`: its documented API on ``MLArray``, ``Meta``
  and in ``mlarray.cli``.

Public names that say *legacy* (``UnsafeLegacyFileError``, the ``max_legacy_*`` limits and their
``MLARRAY_MAX_LEGACY_*`` variables) mean the same thing: a file written by the published package.
They keep their names because users' code and settings use them.
"""
