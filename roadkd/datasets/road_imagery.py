"""RGB aerial imagery of roadkd's dataset layout as a TorchGeo RasterDataset."""

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from torchgeo.datasets import RasterDataset

from ..errors import RoadkdError


class RoadImagery(RasterDataset):
    """RGB uint8 imagery at very high resolution (``DIR/images/<scene>.tif``).

    Samples hold ``image`` (3, H, W) float32 raw 0-255 values, ``bounds`` and ``transform``.
    """

    filename_glob = "*.tif"
    is_image = True
    all_bands = ("red", "green", "blue")
    rgb_bands = ("red", "green", "blue")

    def __init__(
        self,
        paths: Path | Iterable[Path],
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        cache: bool = True,
    ) -> None:
        """Initialise the dataset.

        Args:
            paths: scene files (or a folder of them).
            transforms: a function applied to each sample.
            cache: keep open file handles between reads.

        Raises:
            RoadkdError: if no scene file is found.
        """
        try:
            super().__init__(paths, transforms=transforms, cache=cache)
        except (FileNotFoundError, ValueError) as err:
            raise RoadkdError(f"no imagery found in {paths}: {err}") from err
