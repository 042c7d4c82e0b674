"""The RasterDataset base of roadkd's layout: one file per scene, a clear error if none."""

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from torchgeo.datasets import RasterDataset

from ..errors import RoadkdError


class LayoutRaster(RasterDataset):
    """A TorchGeo RasterDataset over the ``.tif`` files of one folder of the layout.

    Subclasses say what the files hold (``is_image``, bands) and how to name them in the
    error raised when there are none (``what``).
    """

    filename_glob = "*.tif"
    what: ClassVar[str] = "rasters"

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
            RoadkdError: if no file is found.
        """
        try:
            super().__init__(paths, transforms=transforms, cache=cache)
        except (FileNotFoundError, ValueError) as err:
            raise RoadkdError(f"no {self.what} found in {paths}: {err}") from err
