"""Road label rasters (surface, edge or centreline) as a TorchGeo RasterDataset."""

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from torchgeo.datasets import RasterDataset

from ..errors import RoadkdError


class RoadMask(RasterDataset):
    """Binary road labels, uint8 0/1 (``DIR/masks/<kind>/<scene>.tif``).

    Samples hold ``mask`` (H, W) int64, ``bounds`` and ``transform``. Intersect with
    :class:`~roadkd.datasets.RoadImagery` (``imagery & masks``) for labelled samples.
    """

    filename_glob = "*.tif"
    is_image = False

    def __init__(
        self,
        paths: Path | Iterable[Path],
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        cache: bool = True,
    ) -> None:
        """Initialise the dataset.

        Args:
            paths: label files (or a folder of them) of one kind.
            transforms: a function applied to each sample.
            cache: keep open file handles between reads.

        Raises:
            RoadkdError: if no label file is found.
        """
        try:
            super().__init__(paths, transforms=transforms, cache=cache)
        except (FileNotFoundError, ValueError) as err:
            raise RoadkdError(f"no road labels found in {paths}: {err}") from err
