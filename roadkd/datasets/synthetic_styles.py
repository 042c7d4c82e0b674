"""The looks of a synthetic scene: road material, season, sun and density.

Each scene draws one :class:`SceneStyle` from its seed, so a few labelled blocks do not show
every look a road can have.
"""

from dataclasses import dataclass

import numpy as np

#: Road surface materials: colour (RGB) and texture strength. Parking lots and driveways
#: share the roads' material, as in real suburbs (the main source of ambiguity).
SURFACES: dict[str, tuple[tuple[float, float, float], float]] = {
    "asphalt": ((92, 92, 96), 0.08),
    "concrete": ((168, 163, 152), 0.05),
    "gravel": ((146, 128, 104), 0.2),
}
#: Seasons: ground (grass), soil patches and tree canopy colours.
SEASONS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "green": ((88, 118, 62), (140, 120, 92), (45, 78, 38)),
    "dry": ((158, 146, 92), (172, 146, 108), (92, 98, 56)),
    "snow": ((232, 234, 240), (196, 196, 204), (78, 72, 66)),
}
#: Densities: multiplier of residential streets, share of building sites built on,
#: spacing of building sites (px) and multiplier of trees.
DENSITIES: dict[str, tuple[float, float, int, float]] = {
    "rural": (0.5, 0.2, 32, 1.4),
    "suburb": (1.0, 0.5, 24, 1.0),
    "dense": (1.7, 0.85, 18, 0.6),
}


@dataclass(frozen=True)
class SceneStyle:
    """How one scene looks: material, season, sun and density.

    Attributes:
        surface: key of :data:`SURFACES`.
        season: key of :data:`SEASONS`.
        density: key of :data:`DENSITIES`.
        sun_azimuth: direction shadows fall towards, in radians (0: east, pi/2: south).
        shadow_px: length of a building's shadow in pixels.
        shadow_darkness: brightness kept in shadow (0 black, 1 no shadow).
    """

    surface: str = "asphalt"
    season: str = "green"
    density: str = "suburb"
    sun_azimuth: float = np.pi / 4
    shadow_px: int = 11
    shadow_darkness: float = 0.45

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "SceneStyle":
        """A random style (categories uniform; sun from anywhere, low to high)."""
        return cls(
            surface=str(rng.choice(list(SURFACES))),
            season=str(rng.choice(list(SEASONS))),
            density=str(rng.choice(list(DENSITIES))),
            sun_azimuth=float(rng.uniform(0, 2 * np.pi)),
            shadow_px=int(rng.integers(4, 30)),
            shadow_darkness=float(rng.uniform(0.35, 0.7)),
        )


def balanced_looks(count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(surface, season) for the ``count`` scenes of one split, in the same mix everywhere.

    Every three consecutive scenes show each surface and each season once, and every nine
    each of the nine pairs once (a Latin square), so a validation split of three scenes and
    a test split of six hold the looks in the proportions of the training split. ``rng``
    permutes which surface and season come first.

    Args:
        count: scenes in the split.
        rng: the split's random generator.

    Returns:
        One (surface, season) pair per scene.
    """
    surfaces = [str(s) for s in rng.permutation(list(SURFACES))]
    seasons = [str(s) for s in rng.permutation(list(SEASONS))]
    return [(surfaces[k % 3], seasons[(k % 3 + k // 3 % 3) % 3]) for k in range(count)]
