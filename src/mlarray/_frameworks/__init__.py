"""Implementation of the training-framework bridges (MONAI, TorchIO, nnU-Net v2).

The public entry points are :mod:`mlarray.monai`, :mod:`mlarray.torchio` and :mod:`mlarray.nnunet`;
this package holds their internals and the geometry they share. Nothing here imports a framework
at package import time.
"""

__all__: list = []
