"""The road networks of synthetic scenes: centrelines, widths and the surface they cover.

Road counts follow a scene's extent (a street about every 120 m, an arterial about every
500 m, scaled by the scene's density), and a network is drawn again until its surface
covers a realistic share of the scene.
"""

from collections.abc import Callable

import numpy as np
from scipy import ndimage

#: Share of a scene's pixels that is road surface, as in real very-high-resolution urban
#: imagery (a scene a third road makes "road everywhere" a strong map).
ROAD_SHARE = (0.08, 0.25)
#: Mean spacing of residential streets along each axis in a suburb, in pixels (~120 m).
STREET_SPACING_PX = 560
#: Mean spacing of arterials along each axis, in pixels (~500 m).
ARTERIAL_SPACING_PX = 2400
#: Road networks drawn at most per scene to land within ``road_share``.
NETWORK_DRAWS = 64


def road_polylines(
    rng: np.random.Generator, size: int, streets: float = 1.0
) -> list[tuple[np.ndarray, float, bool]]:
    """Return road centrelines as (points (N, 2) in row/col, width in px, is_arterial).

    Road counts follow the scene's extent, not a fixed number per scene: an arterial about
    every :data:`ARTERIAL_SPACING_PX` and a residential street about every
    :data:`STREET_SPACING_PX` (divided by ``streets``, the scene's density) along each axis.
    A scene always shows at least one road.
    """
    roads: list[tuple[np.ndarray, float, bool]] = []
    t = np.linspace(0.0, 1.0, 200)

    def wavy(
        start: float, horizontal: bool, amplitude: float, extent: tuple[float, float]
    ) -> np.ndarray:
        along = extent[0] + (extent[1] - extent[0]) * t
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5)
        across = start + amplitude * np.sin(2 * np.pi * freq * t + phase)
        return np.stack([across, along], 1) if horizontal else np.stack([along, across], 1)

    # Arterials: wide, gently curving, crossing the scene.
    for horizontal in (True, False):
        for _ in range(int(rng.poisson(size / ARTERIAL_SPACING_PX))):
            start = rng.uniform(0.15, 0.85) * size
            roads.append(
                (
                    wavy(start, horizontal, rng.uniform(0, 0.04) * size, (-20, size + 20)),
                    rng.uniform(48, 70),
                    True,
                )
            )
    # Residential streets: narrower, straighter, some ending short of the scene edge.
    for horizontal in (True, False):
        for _ in range(int(rng.poisson(size * streets / STREET_SPACING_PX))):
            roads.append(_street(rng, size, horizontal, wavy))
    if not roads:
        roads.append(_street(rng, size, bool(rng.integers(2)), wavy))
    if size >= 512 and rng.random() < 0.3 * streets:
        # A curved crescent street, as in newer suburbs.
        centre = rng.uniform(0.3, 0.7, 2) * size
        radius = rng.uniform(0.2, 0.35) * size
        angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, rng.uniform(1.5, 3.0), 200)
        arc = np.stack(
            [centre[0] + radius * np.sin(angles), centre[1] + radius * np.cos(angles)], 1
        )
        roads.append((arc, rng.uniform(28, 40), False))
    return roads


def _street(
    rng: np.random.Generator,
    size: int,
    horizontal: bool,
    wavy: Callable[[float, bool, float, tuple[float, float]], np.ndarray],
) -> tuple[np.ndarray, float, bool]:
    """One residential street across the scene, or ending short of its edge (a dead end)."""
    start = rng.uniform(0.05, 0.95) * size
    lo, hi = -20.0, size + 20.0
    if rng.random() < 0.4:  # dead end
        if rng.random() < 0.5:
            lo = rng.uniform(0.3, 0.6) * size
        else:
            hi = rng.uniform(0.4, 0.7) * size
    points = wavy(start, horizontal, rng.uniform(0, 0.03) * size, (lo, hi))
    return points, rng.uniform(28, 42), False


def road_network(
    rng: np.random.Generator, size: int, streets: float, road_share: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw road networks until one covers a share of the scene within ``road_share``.

    Returns:
        The road surface, every road's centreline and the arterials' centrelines (bool
        masks). After :data:`NETWORK_DRAWS` draws out of range, the draw closest to the
        range is kept (a scene too small to hold one road inside it).
    """
    lo, hi = road_share
    best: tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
    for _ in range(NETWORK_DRAWS):
        surface = np.zeros((size, size), bool)
        centre_all = np.zeros((size, size), bool)
        arterial_centre = np.zeros((size, size), bool)
        for points, width, arterial in road_polylines(rng, size, streets):
            line = rasterize_polyline(points, size)
            surface |= ndimage.distance_transform_edt(~line) <= width / 2
            centre_all |= line
            if arterial:
                arterial_centre |= line
        share = float(surface.mean())
        miss = max(lo - share, share - hi, 0.0)
        if best is None or miss < best[0]:
            best = (miss, (surface, centre_all, arterial_centre))
        if miss == 0.0:
            break
    assert best is not None
    return best[1]


def rasterize_polyline(points: np.ndarray, size: int) -> np.ndarray:
    """One-pixel-thick mask of a densely sampled polyline."""
    mask = np.zeros((size, size), bool)
    seg = np.diff(points, axis=0)
    n = np.maximum(2, np.ceil(np.hypot(seg[:, 0], seg[:, 1])).astype(int) + 1)
    for (r0, c0), (dr, dc), k in zip(points[:-1], seg, n, strict=True):
        s = np.linspace(0, 1, k)
        rr = np.round(r0 + dr * s).astype(int)
        cc = np.round(c0 + dc * s).astype(int)
        keep = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
        mask[rr[keep], cc[keep]] = True
    return mask
