"""Converters for the formats beyond the four dedicated ones (NIfTI, NRRD, DICOM, TIFF).

- :mod:`.itk`     — SimpleITK: MetaImage (``.mha``/``.mhd``) in and out, and every other ITK
  ImageIO (Analyze, GIPL, VTK, MINC, MRC, ...) as the reader for extensions nothing else claims
- :mod:`.mgh`     — FreeSurfer MGH/MGZ in and out (nibabel)
- :mod:`.omezarr` — OME-Zarr (NGFF 0.4 and 0.5) in and out, with pyramids and image labels
- :mod:`.bioio`   — the last resort for microscopy formats: any installed ``bioio`` reader plugin
- :mod:`.registry` — which converter reads a path, and what this installation can read and write

Each module imports its library only when it runs, so importing this package costs nothing.
"""

__all__: list[str] = []
