"""The "MLArray metadata" dock widget: view, edit, validate, save and revert a layer's metadata.

The widget follows the active layer. Its working copy of the metadata lives in
``layer.metadata["mlarray"]`` (the mapping the reader put there; built from the layer's transforms
for layers that did not come from a ``.mla`` file), so edits survive switching layers and are what
the writer saves. Every edit is validated by :mod:`mlarray.meta` before anything is applied; a
refused edit shows the library's message (field, value, remedy) and changes nothing.

* Geometry edits (spacing, origin, direction, axis labels/units, coord system) are applied live to
  every layer read from the same file (image/labels and its boxes) using the reader's world
  convention (:func:`napari_mlarray.layers._geometry.napari_world_affine`).
* ``is_seg`` and the class table update the Labels layer (colormap, class names as features);
  toggling ``is_seg`` swaps the layer between Image and Labels.
* The box table (label, score) and the Shapes layer stay in sync both ways.
* **Save** writes the metadata into the layer's file: the file is copied byte for byte beside
  itself, the JSON metadata entry of the copy is replaced and the copy is atomically renamed over
  the original — compressed pixel chunks are never decoded or rewritten.
* **Revert** re-reads the file's metadata and re-applies it to the layers.
* ``source`` (DICOM/NIfTI headers can hold thousands of entries) is a lazily populated,
  searchable tree: only expanded nodes are built and a search lists at most a few hundred hits.

Modules:

* :mod:`._dock` — :class:`MetadataWidget` itself: owns the tabs and the session, follows the active
  layer, Save / Revert / Save as…;
* :mod:`._session` — :class:`EditSession`, what the tabs share (layer, its file's layers, messages,
  refused fields), handed to each tab;
* :mod:`._tab` — the base of the editing tabs; :mod:`._tabs` — the Spatial, Stats, Classes and Extra
  tabs; :mod:`._boxes` — the Boxes tab and its sync with the Shapes layer;
* :mod:`._save` — the in-place metadata rewrite and what each file holds;
* :mod:`._layers` — a layer's Meta and applying a Meta to layers;
* :mod:`._tree` — :class:`LazyTree` (Source and Layout tabs);
* :mod:`._text` — parsing and formatting of field text.
"""
