"""nnU-Net v2 reads and writes ``.mla`` (optional extra: ``pip install 'mlarray[nnunet]'``).

    python -m mlarray.nnunet install     # once per environment (after installing or upgrading nnunetv2)
    # dataset.json: "file_ending": ".mla", "overwrite_image_reader_writer": "MLArrayIO"
    nnUNetv2_plan_and_preprocess -d 1 --verify_dataset_integrity

:class:`MLArrayIO` is a ``BaseReaderWriter``: images in the axis order nnU-Net's own NIfTI readers
give for the same world data, ``(c, z, y, x)``, whatever order the file stores, with the spacing to
match; segmentations read the same way; predictions written back in the file's own axis order as
``.mla`` segmentations on the image's grid with its geometry and the dataset's class table.

Importing this module registers ``MLArrayIO`` for the ending ``.mla`` in the current process (and
warns when the look-up module that nnU-Net's other processes need is missing). nnU-Net resolves
the reader by class name in every worker and CLI process it starts, looking only inside its own
``nnunetv2/imageio`` folder; ``install`` puts a small look-up module there (see
:mod:`mlarray._frameworks.nnunet_hook` for why this is the least fragile hook).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # `python -m mlarray.nnunet ...`: the command line needs nnU-Net only to find its folder, and says
    # in one line what to install when nnunetv2 is missing (main catches that), so it runs before
    # the imports below, which would fail with a traceback
    from mlarray._frameworks.nnunet_hook import main as _main

    sys.exit(_main())

from mlarray.optpkg import optional_import  # noqa: E402

optional_import("nnunetv2", feature="mlarray.nnunet (nnU-Net v2's reader/writer MLArrayIO)", extra="nnunet")

from mlarray._frameworks.nnunet_hook import install, is_installed, register, shim_path, uninstall  # noqa: E402
from mlarray._frameworks.nnunet_io import MLArrayIO, class_table_from_dataset_json  # noqa: E402

__all__ = ["MLArrayIO", "register", "install", "uninstall", "is_installed", "shim_path",
           "class_table_from_dataset_json"]

register()
