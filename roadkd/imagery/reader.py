"""Reading a scene on a model's grid as 0-255 pixels, window by window."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..io import reading
from ..raster import open_raster
from .plan import Log, OnPlannedGrid, ReadOptions, ScenePlan, plan_scene
from .scaling import BandPercentiles


class ReaderClosedError(RuntimeError):
    """A :class:`SceneReader` was read after it was closed (a programming error)."""


class SceneReader(OnPlannedGrid):
    """A scene presented on a model's grid as 0-255 float32 pixels, read window by window.

    Use as a context manager. ``crs``, ``transform``, ``width`` and ``height`` describe the
    grid the model sees (write results on it); :meth:`read` returns one window of it.
    Nothing is read whole: windows come from GDAL (warped on demand when resampling), so
    memory stays bounded by the window size.
    """

    def __init__(
        self,
        path: str | Path,
        in_channels: int,
        resolution_m: float,
        options: ReadOptions | None = None,
        log: Log | None = None,
        plan: ScenePlan | None = None,
        training_percentiles: BandPercentiles | None = None,
    ) -> None:
        """Open a scene and plan its reading; the plan and warnings go to ``log`` once.

        Args:
            path: any raster GDAL reads (GeoTIFF, VRT, JPEG 2000, ...).
            in_channels: bands the model needs.
            resolution_m: the model's metres per pixel.
            options: the user's choices of bands, scaling and resolution.
            log: called with the one-line description and each warning.
            plan: a plan made earlier for this scene (e.g. when all scenes are checked
                before work starts); ``in_channels``, ``resolution_m`` and ``options`` are
                then not looked at again, and the percentile stretch is not recomputed.
            training_percentiles: the model's recorded training percentiles, which a
                non-uint8 scene's percentiles are stretched onto (None: onto 0-255).

        Raises:
            RoadkdError: if the scene cannot be read or used with this model.
        """
        scene = Path(path)
        # GDAL frees a dataset's handle on close while a read in another thread (the
        # prefetch of the next tiles) may still use it, which crashes the process. Reads
        # and close take turns; a read after close fails cleanly.
        self._lock = threading.Lock()
        self._closed = False
        self._src: DatasetReader = open_raster(scene, "scene", georeferenced=False)
        self._dataset: DatasetReader | WarpedVRT = self._src
        try:
            with reading(scene, "scene"):  # the stretch reads pixels: a damaged file fails here
                self.plan = plan or plan_scene(
                    self._src, in_channels, resolution_m, options, training_percentiles
                )
                if self.plan.resampling is not None:
                    self._dataset = WarpedVRT(
                        self._src,
                        crs=self.plan.crs,
                        transform=self.plan.transform,
                        width=self.plan.width,
                        height=self.plan.height,
                        resampling=self.plan.resampling,
                        # Without a nodata value, an alpha band marks what is outside the scene.
                        add_alpha=self._src.nodata is None,
                    )
        except BaseException:
            self._src.close()
            raise
        if self.plan.low is not None and self.plan.high is not None:
            low = np.asarray(self.plan.low, np.float32)[:, None, None]
            span = np.asarray(self.plan.high, np.float32)[:, None, None] - low
            self._scale: tuple[np.ndarray, np.ndarray] | None = (low, 255.0 / span)
        else:
            self._scale = None
        if log is not None:
            log(self.plan.describe())
            for warning in self.plan.warnings:
                log(warning)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read one window of the model's grid.

        Args:
            window: rows and columns of the grid the model sees.

        Returns:
            float32 (bands, h, w) pixels in 0-255 (invalid pixels 0), and the (h, w) bool
            mask of valid pixels (inside the scene, not nodata, finite).
        """
        bands = list(self.plan.bands)
        with self._open_dataset() as dataset:
            pixels = dataset.read(bands, window=window)
            valid = dataset.read_masks(bands[0], window=window) > 0
        return self._to_model_range(pixels, valid)

    def read_overview(self, max_side: int) -> tuple[np.ndarray, float]:
        """Read the whole grid decimated (``average``) so its longer side is <= ``max_side``.

        For quick looks (previews): memory is bounded by ``max_side``, not the scene.

        Args:
            max_side: longest side of the result in pixels.

        Returns:
            float32 (bands, h, w) pixels in 0-255, and the scale from the grid to the result
            (result pixel = grid pixel * scale).
        """
        scale = min(1.0, max_side / max(self.width, self.height))
        shape = (max(1, round(self.height * scale)), max(1, round(self.width * scale)))
        bands = list(self.plan.bands)
        with self._open_dataset() as dataset:
            pixels = dataset.read(
                bands, out_shape=(len(bands), *shape), resampling=Resampling.average
            )
        valid = np.ones(shape, bool)
        return self._to_model_range(pixels, valid)[0], scale

    def _to_model_range(
        self, pixels: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scale raw pixels to 0-255 float32; non-finite pixels become 0 and invalid."""
        pixels = pixels.astype(np.float32)
        finite = np.isfinite(pixels)
        valid &= finite.all(axis=0)
        if self._scale is not None:
            low, gain = self._scale
            pixels = np.clip((pixels - low) * gain, 0.0, 255.0)
        pixels[~finite] = 0.0
        return pixels, valid

    @contextmanager
    def _open_dataset(self) -> Iterator[DatasetReader | WarpedVRT]:
        """The dataset, which is not closed until the caller is done with it.

        Raises:
            ReaderClosedError: if the reader was closed.
        """
        with self._lock:
            if self._closed:
                raise ReaderClosedError(f"{self.plan.path.name}: read after the reader closed")
            yield self._dataset

    def close(self) -> None:
        """Close the warped view and the file, once a read under way has finished."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._dataset is not self._src:
                self._dataset.close()
            self._src.close()

    def __enter__(self) -> "SceneReader":
        """Enter the context: the reader itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the reader."""
        self.close()


def block_windows(height: int, width: int, block: int) -> Iterator[Window]:
    """Windows of at most ``block`` x ``block`` pixels covering a grid, row by row."""
    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))


def read_on_grid(
    path: str | Path,
    crs: CRS,
    transform: Affine,
    shape: tuple[int, int],
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """Read band 1 of a single-band raster onto another grid (e.g. a probability onto labels).

    Args:
        path: the raster.
        crs: the target grid's CRS.
        transform: the target grid's transform.
        shape: (rows, cols) of the target grid.
        resampling: how to resample when the grids differ.

    Returns:
        float32 (rows, cols); pixels outside the raster or nodata are NaN.
    """
    with rasterio.open(path) as src:
        if src.crs == crs and src.transform == transform and (src.height, src.width) == shape:
            data: np.ndarray = src.read(1, masked=True).astype(np.float32).filled(np.nan)
            return data
        with WarpedVRT(
            src,
            crs=crs,
            transform=transform,
            width=shape[1],
            height=shape[0],
            resampling=resampling,
            add_alpha=src.nodata is None,
        ) as vrt:
            warped: np.ndarray = vrt.read(1, masked=True).astype(np.float32).filled(np.nan)
            return warped
