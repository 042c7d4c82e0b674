"""SpaceNet 3 roads (the APLS benchmark) in roadkd's dataset layout.

``roadkd data spacenet3 RELEASE --out DIR`` finds the release's chips and labels, turns the
labels into one road layer with OpenStreetMap-style tags and runs
:func:`~roadkd.datasets.from_vectors.write_dataset_from_vectors` on them.

The release, as TorchGeo's ``SpaceNet3`` and CosmiQ's CRESI read it (``s3://spacenet-dataset/
spacenet/SN3_roads/``), per AOI (2 Vegas, 3 Paris, 4 Shanghai, 5 Khartoum)::

    train/AOI_2_Vegas/PS-RGB/SN3_roads_train_AOI_2_Vegas_PS-RGB_img1.tif
    train/AOI_2_Vegas/geojson_roads/SN3_roads_train_AOI_2_Vegas_geojson_roads_img1.geojson
    train/AOI_2_Vegas/geojson_roads_speed/..._geojson_roads_speed_img1.geojson
    test_public/AOI_2_Vegas_Roads_Test_Public/RGB-PanSharpen/RGB-PanSharpen_AOI_2_Vegas_img9.tif

and the 2017 competition's own layout (``AOI_2_Vegas_Roads_Train/RGB-PanSharpen/
RGB-PanSharpen_AOI_2_Vegas_img1.tif``, ``geojson/spacenetroads/spacenetroads_AOI_2_Vegas_
img1.geojson``). Chips are found by folder (``PS-RGB`` or ``RGB-PanSharpen``: 3-band 16-bit
pan-sharpened RGB, 1300 x 1300 px of 2.7e-6 degrees, EPSG:4326) and paired with their labels
by AOI and image number, whatever the folders above them are called.

Labels are GeoJSON LineStrings in CRS84 (with a zero height) whose attributes are strings
of integer codes (SpaceNet roads labelling guide, as quoted in CRESI's ``road_speed.py``):
``road_type`` 1 motorway, 2 primary, 3 secondary, 4 tertiary, 5 residential,
6 unclassified, 7 cart track; ``lane_number`` lanes of that centreline (a divided road is
two lines); ``bridge_type`` 1 bridge, 2 not, 3 unknown; ``paved`` 1 paved, 2 unpaved,
3 unknown. Early files carry the Shapefile-truncated names ``lane_numbe`` and
``bridge_typ``; the speed variant adds ``inferred_speed_mph``/``_mps``. A chip without
roads has an empty (sometimes zero-byte) file.

The official split (TorchGeo's ``SpaceNet3`` tarballs; the SpaceNet AOI pages): per AOI a
``train`` set with labels and a ``test_public`` set of imagery only, whose labels were never
released. So roadkd's val and test chips are a seeded share of each AOI's labelled chips
(or the chips a published split lists, ``test_chips``), and the ``test_public`` chips feed the
unlabelled stream of the semi-supervised methods.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyogrio.errors import DataLayerError, DataSourceError

from ..errors import RoadkdError
from ..imagery import Log, ReadOptions
from ..io import atomic_output
from .from_vectors import FromVectorsSummary, write_dataset_from_vectors
from .layout import check_new_dataset_folder
from .spacenet3_release import (
    ROAD_TYPE_HIGHWAY,
    Chip,
    chip_outline,
    find_chips,
    osm_tags,
    parse_chip_id,
    read_chip_roads,
)

#: The release's AOI numbers by city.
AOI_NUMBERS: dict[str, int] = {"vegas": 2, "paris": 3, "shanghai": 4, "khartoum": 5}
#: The release's ground resolution (its chips' north-south pixel size; east-west they are
#: finer, 2.7e-6 degrees of longitude).
NOMINAL_RESOLUTION_M = 0.3
#: Block side given to from-vectors: larger than any chip, so a chip is one block.
CHIP_BLOCK_PX = 1 << 16
Split = dict[str, str]


# -- splits --------------------------------------------------------------------------------


def read_chip_list(path: str | Path) -> set[tuple[int, int]]:
    """(AOI, image number) of every chip a split file lists (any naming of the release).

    Raises:
        RoadkdError: if the file cannot be read or a line names no chip.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise RoadkdError(f"cannot read chip list {path}: {err}") from err
    listed = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parsed = parse_chip_id(line)
        if parsed is None:
            raise RoadkdError(
                f"{path}, line {number}: {line.strip()!r} names no chip "
                "(expected e.g. AOI_2_Vegas_img1 or RGB-PanSharpen_AOI_2_Vegas_img1)"
            )
        listed.add((parsed[0], parsed[2]))
    if not listed:
        raise RoadkdError(f"chip list {path} names no chip")
    return listed


def _held_out(share: float, count: int) -> int:
    return 0 if share <= 0 or count == 0 else max(1, round(share * count))


def plan_splits(
    chips: Sequence[Chip],
    val: float,
    test: float,
    seed: int,
    test_chips: set[tuple[int, int]] | None = None,
) -> Split:
    """Each chip's split in roadkd's layout.

    ``test_public`` chips and training chips without labels are unlabelled. Of each AOI's
    labelled chips, ``test_chips`` (or a seeded ``test`` share) are held out for testing,
    then a seeded ``val`` share for validation; at least one chip of an AOI trains.

    Raises:
        RoadkdError: if ``test_chips`` names a chip that is not a labelled chip here.
    """
    splits: Split = {c.name: "unlabeled" for c in chips}
    labelled = [c for c in chips if c.official == "train" and c.labels is not None]
    if test_chips is not None:
        found = {(c.aoi, c.number) for c in labelled}
        unknown = sorted(test_chips - found)
        if unknown:
            listing = ", ".join(f"AOI_{a}_img{n}" for a, n in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise RoadkdError(
                f"the test list names {len(unknown)} chip(s) that are not labelled training "
                f"chips of this release (or of the AOIs asked for): {listing}{more}"
            )
    rng = np.random.default_rng(seed)
    for aoi in sorted({c.aoi for c in labelled}):
        members = [c for c in labelled if c.aoi == aoi]
        order = [members[i] for i in rng.permutation(len(members))]
        if test_chips is not None:
            tests = [c for c in order if (c.aoi, c.number) in test_chips]
        else:
            tests = order[: min(_held_out(test, len(order)), len(order) - 1)]
        rest = [c for c in order if c not in tests]
        vals = rest[: min(_held_out(val, len(rest)), len(rest) - 1)]
        for chip in members:
            splits[chip.name] = "test" if chip in tests else "val" if chip in vals else "train"
    return splits


# -- the whole job -------------------------------------------------------------------------


@dataclass
class SpaceNet3Summary:
    """What ``data spacenet3`` wrote."""

    dataset: FromVectorsSummary
    vectors: Path
    chips: dict[str, dict[str, int]] = field(default_factory=dict)
    without_labels: int = 0

    def lines(self) -> list[str]:
        """What the CLI prints."""
        d = self.dataset
        counts = ", ".join(f"{k} {len(v)}" for k, v in d.blocks.items())
        lines = [
            f"wrote {d.out}: {d.scenes} chip(s), {d.road_km:.2f} km of road rasterised; "
            f"chips: {counts}"
            + (
                f" ({d.dropped_overlapping} left out: overlap held-out chips)"
                if d.dropped_overlapping
                else ""
            )
        ]
        for aoi, per_split in self.chips.items():
            lines.append(f"  {aoi}: " + ", ".join(f"{k} {v}" for k, v in per_split.items() if v))
        if self.without_labels:
            lines.append(f"  {self.without_labels} training chip(s) without labels: unlabelled")
        lines.append(f"-> {self.vectors} (layers roads, labelled_chips)")
        lines.append(f"Note: {OFFICIAL_SPLIT_NOTE}")
        return lines


OFFICIAL_SPLIT_NOTE = (
    "SpaceNet 3's official split is train (labelled) and test_public (imagery only; its "
    "labels were never released): val and test are held out from each AOI's labelled "
    "training chips, test_public chips are unlabelled"
)


def vectors_path(out: str | Path) -> Path:
    """The GeoPackage of roads and chip outlines written beside a dataset folder."""
    target = Path(out)
    return target.with_name(f"{target.name}_roads.gpkg")


def _write_vectors(
    path: Path, chips: Sequence[Chip], splits: Split, log: Log | None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Write the labelled chips' roads (with OSM-style tags) and outlines to a GeoPackage."""
    labelled = [c for c in chips if c.labels is not None and splits[c.name] != "unlabeled"]
    parts = []
    for chip in labelled:
        assert chip.labels is not None
        roads = read_chip_roads(chip.labels)
        if not roads.empty:
            roads = roads.drop(columns=[c for c in roads.columns if c in _OWN_COLUMNS])
            roads = gpd.GeoDataFrame(
                pd.concat([osm_tags(roads), roads], axis=1), geometry="geometry"
            )
            roads["chip"], roads["split"] = chip.chip_id, splits[chip.name]
            parts.append(roads)
    if not parts:
        raise RoadkdError("the labelled chips hold no road line")
    lines = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    for column in lines.columns.drop("geometry"):
        if lines[column].dtype == object:  # mixed codes from different files: keep as text
            lines[column] = lines[column].map(lambda v: None if v is None else str(v))
    outlines = gpd.GeoDataFrame(
        {
            "chip": [c.chip_id for c in labelled],
            "aoi": [c.aoi for c in labelled],
            "split": [splits[c.name] for c in labelled],
            "image": [str(c.image) for c in labelled],
        },
        geometry=[chip_outline(c.image) for c in labelled],
        crs="EPSG:4326",
    )
    try:
        with atomic_output(path) as tmp:
            # The polygons first: from-vectors reads the first polygon layer as the labelled
            # area and the first line layer as the roads.
            outlines.to_file(tmp, layer="labelled_chips", driver="GPKG", engine="pyogrio")
            lines.to_file(tmp, layer="roads", driver="GPKG", engine="pyogrio")
    except (OSError, DataSourceError, DataLayerError) as err:
        raise RoadkdError(f"cannot write {path}: {err}") from err
    if log is not None:
        log(f"{len(lines)} road line(s) of {len(labelled)} labelled chip(s) -> {path}")
    return lines, outlines


#: Columns roadkd adds to the road layer (a release file holding them is overridden).
_OWN_COLUMNS = ("highway", "lanes", "bridge", "layer", "surface", "chip", "split")


def convert_spacenet3(
    release: str | Path,
    out: str | Path,
    *,
    aois: Sequence[int] = (),
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 1,
    test_chips: str | Path | None = None,
    resolution: float = NOMINAL_RESOLUTION_M,
    uncertain_m: float = 1.0,
    read_options: ReadOptions | None = None,
    log: Log | None = None,
) -> SpaceNet3Summary:
    """Write a SpaceNet 3 release in roadkd's layout, through ``data from-vectors``.

    Beside ``out`` goes ``<out>_roads.gpkg``: layer ``roads`` (every labelled chip's lines
    with the release's attributes, OSM-style ``highway``, ``lanes``, ``bridge``, ``layer``,
    ``surface``, and ``chip``, ``split``) and layer ``labelled_chips`` (their outlines).
    Widths are ``lanes`` x 3.5 m, else the ``highway`` class's
    (:mod:`roadkd.datasets.road_widths`).

    Args:
        release: the folder the release was extracted into.
        out: dataset folder to create (must not exist or be empty).
        aois: AOIs to convert (default: all found).
        val: share of each AOI's labelled chips held out for validation.
        test: share of each AOI's labelled chips held out for testing.
        seed: seed of the val/test draw.
        test_chips: a file listing test chips (one per line, any naming of the release),
            instead of the ``test`` draw.
        resolution: metres per pixel of the written images.
        uncertain_m: ignore band on each side of every road edge, in metres.
        read_options: bands and scaling (default: the 16-bit chips stretched per band).
        log: called with progress lines and warnings.

    Returns:
        What was written.

    Raises:
        RoadkdError: for a folder that is not a release, bad arguments or an output in the
            way; nothing is written then.
    """
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise RoadkdError(f"--val and --test must be in [0, 1) with a sum below 1: {val}, {test}")
    target = Path(out)
    vectors = vectors_path(target)
    check_new_dataset_folder(target)
    if vectors.exists():
        raise RoadkdError(
            f"{vectors} exists (an earlier run's?): remove it or choose another --out"
        )
    chips = find_chips(release, aois)
    listed = read_chip_list(test_chips) if test_chips is not None else None
    splits = plan_splits(chips, val, test, seed, listed)
    _write_vectors(vectors, chips, splits, log)
    try:
        dataset = write_dataset_from_vectors(
            [c.image for c in chips],
            vectors,
            target,
            roads_layer="roads",
            labelled_area=vectors,
            uncertain_m=uncertain_m,
            seed=seed,
            block_px=CHIP_BLOCK_PX,
            resolution=resolution,
            read_options=read_options,
            log=log,
            scene_splits=splits,
            provenance={
                "source": "spacenet3",
                "release": str(Path(release)),
                "aois": sorted({c.aoi for c in chips}),
                "val_share": val,
                "test_share": None if test_chips is not None else test,
                "test_chips": str(test_chips) if test_chips is not None else None,
                "note": OFFICIAL_SPLIT_NOTE,
            },
        )
    except BaseException:
        vectors.unlink(missing_ok=True)
        raise
    return SpaceNet3Summary(
        dataset=dataset,
        vectors=vectors,
        chips=_counts(chips, splits),
        without_labels=sum(c.official == "train" and c.labels is None for c in chips),
    )


def _counts(chips: Iterable[Chip], splits: Mapping[str, str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for chip in chips:
        per = counts.setdefault(
            f"AOI_{chip.aoi}_{chip.city}", dict.fromkeys(("train", "val", "test", "unlabeled"), 0)
        )
        per[splits[chip.name]] += 1
    return counts


__all__ = [
    "AOI_NUMBERS",
    "NOMINAL_RESOLUTION_M",
    "ROAD_TYPE_HIGHWAY",
    "Chip",
    "SpaceNet3Summary",
    "chip_outline",
    "convert_spacenet3",
    "find_chips",
    "osm_tags",
    "parse_chip_id",
    "plan_splits",
    "read_chip_list",
    "read_chip_roads",
    "vectors_path",
]
