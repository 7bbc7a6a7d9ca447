"""TorchIO reads ``.mla`` (optional extra: ``pip install 'mlarray[torchio]'``).

    import torchio as tio
    import mlarray.torchio

    subject = tio.Subject(ct=tio.ScalarImage("ct.mla", reader=mlarray.torchio.reader),
                          seg=tio.LabelMap("seg.mla", reader=mlarray.torchio.reader))

:func:`reader` returns the ``(C, W, H, D)`` array in the file's axis order and the 4x4 affine in
RAS (TorchIO's convention), converted from the file's ``spatial.coord_system``; files without an
anatomical code keep their affine and are treated as RAS.
"""

from __future__ import annotations

from mlarray._frameworks.torchio_reader import reader

__all__ = ["reader"]
