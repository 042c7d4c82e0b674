"""Patch samplers that respect scene edges and the labelled/unlabelled blocks.

TorchGeo's ``RandomPatchSampler`` keeps patch centres half a patch diagonal inside its
region, so about a third of an isolated block is never seen, and ``GriddedPatchSampler``
lays its grid over the union of all scenes, so val/test patches hang past scene edges.
These samplers work on each scene's own pixel grid instead: a random patch lies wholly
inside blocks of one kind and reaches every pixel of them; a gridded patch lies wholly
inside its scene.
"""

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torchgeo.datasets import GeoDataset
from torchgeo.samplers import GeoSampler

from ..labels import IGNORE_INDEX
from .labeled_split import BlockLayout, Box


def _spans(edges: Sequence[int], patch_px: int) -> list[tuple[int, int, int, int]]:
    """Patch offsets along one axis, grouped by the blocks a patch covers.

    Blocks are at least ``patch_px`` long, so a patch covers one block or two neighbours.

    Returns:
        ``(first block, last block, first offset, number of offsets)`` for each group; the
        groups partition the offsets ``0 ... length - patch_px``.
    """
    spans = []
    for i in range(len(edges) - 1):
        start, stop = edges[i], edges[i + 1]
        if stop - start >= patch_px:
            spans.append((i, i, start, stop - start - patch_px + 1))
        if i + 2 < len(edges):  # patches across the edge between block i and i + 1
            spans.append((i, i + 1, stop - patch_px + 1, patch_px - 1))
    return [s for s in spans if s[3] > 0]


class BlockPatchSampler(GeoSampler):
    """Random patches, each wholly inside allowed blocks of one scene.

    Every patch position that fits in the allowed blocks is equally likely (patches may
    straddle neighbouring allowed blocks), so every pixel of an allowed block can be
    sampled, edges included, and no patch touches a pixel of a block that is not allowed.
    """

    def __init__(
        self,
        regions: Sequence[tuple[BlockLayout, np.ndarray]],
        patch_px: int,
        length: int,
        generator: np.random.Generator,
    ) -> None:
        """Initialise the sampler.

        Args:
            regions: each scene's block grid and its (rows, cols) map of allowed blocks;
                every block must be at least ``patch_px`` a side.
            patch_px: patch side in pixels.
            length: patches per epoch.
            generator: random generator (its state advances from epoch to epoch).

        Raises:
            ValueError: if no patch fits in the allowed blocks.
        """
        self.patch_px = patch_px
        self._length = length
        self.generator = generator
        # one row per group of positions covering the same allowed blocks
        groups: list[tuple[int, int, int, int, int]] = []
        for scene, (grid, allowed) in enumerate(regions):
            for r0, r1, y0, ny in _spans(grid.rows, patch_px):
                for c0, c1, x0, nx in _spans(grid.cols, patch_px):
                    if allowed[r0 : r1 + 1, c0 : c1 + 1].all():
                        groups.append((scene, x0, nx, y0, ny))
        if not groups:
            raise ValueError("no patch fits inside the allowed blocks")
        self.grids = [grid for grid, _ in regions]
        table = np.array(groups, dtype=np.int64)
        self.scene, self.x0, self.nx, self.y0, self.ny = table.T
        counts = (self.nx * self.ny).astype(float)
        self.weights = counts / counts.sum()
        self.positions = int(counts.sum())

    def __iter__(self) -> Iterator[tuple[slice, slice]]:
        """Yield ``length`` random patches as [xmin:xmax, ymin:ymax] in CRS units."""
        rng = self.generator
        picked = rng.choice(len(self.weights), size=self._length, p=self.weights)
        xs = self.x0[picked] + rng.integers(0, self.nx[picked])
        ys = self.y0[picked] + rng.integers(0, self.ny[picked])
        for group, x, y in zip(picked.tolist(), xs.tolist(), ys.tolist(), strict=True):
            grid = self.grids[int(self.scene[group])]
            xmin, _, _, ymax = grid.bounds
            size = self.patch_px * grid.res
            left, top = xmin + x * grid.res, ymax - y * grid.res
            yield slice(left, left + size), slice(top - size, top)


def grid_offsets(length_px: int, patch_px: int, stride_px: int) -> list[int]:
    """Patch offsets every ``stride_px``, the last one moved back to end at the edge.

    Args:
        length_px: the scene's width or height.
        patch_px: patch side.
        stride_px: step between patches.

    Returns:
        Offsets covering ``0 ... length_px`` with patches inside it; empty if the scene is
        smaller than a patch.
    """
    if length_px < patch_px:
        return []
    offsets = list(range(0, length_px - patch_px + 1, stride_px))
    if offsets[-1] != length_px - patch_px:
        offsets.append(length_px - patch_px)
    return offsets


def _already_covered(offsets: list[int], patch_px: int) -> list[int]:
    """For each offset, how many of its first pixels the previous patch already covers."""
    return [0] + [max(0, a + patch_px - b) for a, b in itertools.pairwise(offsets)]


class SceneGridSampler(GeoSampler):
    """Gridded patches covering each scene whole, every patch inside its scene.

    When a scene is not a whole number of strides, the last patch of a row or column is
    moved back to end at the scene's edge (it overlaps its neighbour) rather than hang
    past the edge and be scored on padding. :meth:`seen` tells how many leading columns
    and rows of a patch earlier patches already cover, so a score can count every pixel
    of a scene once.
    """

    def __init__(
        self, scene_bounds: Sequence[Box], res: float, patch_px: int, stride_px: int
    ) -> None:
        """Initialise the sampler.

        Args:
            scene_bounds: (xmin, ymin, xmax, ymax) of each scene.
            res: pixel size in CRS units.
            patch_px: patch side in pixels.
            stride_px: step between patches in pixels.
        """
        size = patch_px * res
        self.patches: list[tuple[slice, slice]] = []
        self._seen: dict[tuple[float, float], tuple[int, int]] = {}
        for xmin, ymin, xmax, ymax in scene_bounds:
            width, height = round((xmax - xmin) / res), round((ymax - ymin) / res)
            xs = grid_offsets(width, patch_px, stride_px)
            ys = grid_offsets(height, patch_px, stride_px)
            for y, seen_rows in zip(ys, _already_covered(ys, patch_px), strict=True):
                top = ymax - y * res
                for x, seen_cols in zip(xs, _already_covered(xs, patch_px), strict=True):
                    left = xmin + x * res
                    self.patches.append((slice(left, left + size), slice(top - size, top)))
                    self._seen[(left, top)] = (seen_cols, seen_rows)
        self._length = len(self.patches)

    def __iter__(self) -> Iterator[tuple[slice, slice]]:
        """Yield the patches, scene by scene, row by row from the top."""
        yield from self.patches

    def seen(self, query: Sequence[slice]) -> tuple[int, int]:
        """Leading (columns, rows) of a yielded patch that earlier patches already cover.

        Args:
            query: a patch as yielded, [xmin:xmax, ymin:ymax].

        Returns:
            Numbers of pixels from the patch's left and top edges; (0, 0) for a patch
            this sampler did not yield.
        """
        x, y = query[0], query[1]
        return self._seen.get((x.start, y.stop), (0, 0))


class ScoreEachPixelOnce:
    """A labelled val/test dataset whose masks ignore pixels an earlier patch has scored.

    Wraps a dataset read with a :class:`SceneGridSampler`: where that sampler's patches
    overlap (a scene that is not a whole number of strides, or a stride below the patch
    size), the later patch's overlap is labelled :data:`IGNORE_INDEX`, so validation and
    test scores count every pixel of a scene exactly once.
    """

    def __init__(self, dataset: GeoDataset, sampler: SceneGridSampler) -> None:
        """Wrap ``dataset`` read through ``sampler``."""
        self.dataset, self.sampler = dataset, sampler

    def __len__(self) -> int:
        """The wrapped dataset's length."""
        return len(self.dataset)

    def __getitem__(self, query: Any) -> dict[str, Any]:
        """Read a patch and mark its already-scored leading columns and rows as ignored."""
        sample: dict[str, Any] = self.dataset[query]
        cols, rows = self.sampler.seen(query)
        if cols or rows:
            mask = sample["mask"].clone()
            mask[..., :rows, :] = IGNORE_INDEX
            mask[..., :, :cols] = IGNORE_INDEX
            sample["mask"] = mask
        return sample
