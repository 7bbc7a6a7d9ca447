"""nnU-Net v2 reads and writes ``.mla`` (optional extra: ``pip install 'mlarray[nnunet]'``).

    python -m mlarray.nnunet install     # once per environment (after installing or upgrading nnunetv2)
    # dataset.json: "file_ending": ".mla", "overwrite_image_reader_writer": "MLArrayIO"
    nnUNetv2_plan_and_preprocess -d 1 --verify_dataset_integrity

:class:`MLArrayIO` is a ``BaseReaderWriter``: images with their spacing in nnU-Net's convention
(one value per array axis, in array order), segmentations read the same way, predictions written
as ``.mla`` segmentations on the image's grid with its geometry and the dataset's class table.

Importing this module registers ``MLArrayIO`` for the ending ``.mla`` in the current process. nnU-Net
resolves the reader by class name in every worker and CLI process it starts, looking only inside
its own ``nnunetv2/imageio`` folder; ``install`` puts a small look-up module there (see
:mod:`mlarray._frameworks.nnunet_hook` for why this is the least fragile hook).
"""

from __future__ import annotations

import sys

from mlarray._frameworks.nnunet_hook import install, is_installed, main, register, shim_path, uninstall
from mlarray._frameworks.nnunet_io import MLArrayIO, class_table_from_dataset_json

__all__ = ["MLArrayIO", "register", "install", "uninstall", "is_installed", "shim_path",
           "class_table_from_dataset_json"]

register()

if __name__ == "__main__":
    sys.exit(main())
