"""Ordinary user mistakes, one table: each ends in one clear line and changes no file.

Every case builds its own tiny rasters in ``tmp_path``, runs the CLI and checks the exit
status (2: a usage error click reports, 1: a data error), exactly one ``Error:`` line
holding the expected words, no traceback, and every file under ``tmp_path`` by hash
before and after (no file changed, none left behind). Below the table: what must work
(a GeoPackage keeps the user's layers, a scene given twice is read once, same-stem scenes
get distinct probability files, 0/255 masks), and interruptions (SIGTERM mid-run, a
killed run's leftovers, QGIS's Cancel).
"""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import torch
import yaml
from affine import Affine
from click.testing import CliRunner
from roadkd_cli.main import cli, main
from shapely.geometry import LineString, Point

from roadkd.datasets.layout import write_geotiff, write_scene, write_splits
from roadkd.io import PARTIAL_PREFIX, SCRATCH_PREFIX

CRS = "EPSG:32618"
TRANSFORM = Affine(0.21, 0, 445000.0, 0, -0.21, 5030000.0)


@pytest.fixture(scope="module")
def model(
    tmp_path_factory: pytest.TempPathFactory,
    save_all_road_model: Callable[..., Path],
) -> Path:
    """A tiny network that calls every pixel road (64 px tiles)."""
    return save_all_road_model(tmp_path_factory.mktemp("model") / "student.pt", tile_size=64)


def scene(path: Path, size: int = 64, seed: int = 0) -> Path:
    """A random RGB scene, uint8, georeferenced."""
    pixels = (np.random.default_rng(seed).random((3, size, size)) * 255).astype(np.uint8)
    write_geotiff(path, pixels, TRANSFORM, CRS)
    return path


def truncated(path: Path) -> Path:
    """A cloud-optimised GeoTIFF cut short: its header still opens, its last tiles do not."""
    from rasterio.shutil import copy

    source = scene(path.with_name(f"full_{path.name}"), size=128)
    copy(source, path, driver="COG", blocksize=64, compress="deflate")
    source.unlink()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    return path


#: A 64 px scene's road: rows 28-35, one eighth of the scene.
ROAD = np.zeros((64, 64), np.uint8)
ROAD[28:36, :] = 1


def dataset(root: Path, surface: np.ndarray | None = None, **mask_grid: object) -> Path:
    """A one-scene dataset (64 px) whose test scene has the given surface mask."""
    size = 64
    road = ROAD
    masks = {"surface": road if surface is None else surface, "centerline": road}
    image = np.full((3, size, size), 120, np.uint8)
    write_scene(root, "s", image, masks, TRANSFORM, CRS)
    if mask_grid:  # rewrite the surface mask on another grid
        array = masks["surface"]
        array = array[: mask_grid.get("rows", size)]
        transform = mask_grid.get("transform", TRANSFORM)
        assert isinstance(transform, Affine)
        write_geotiff(root / "masks" / "surface" / "s.tif", array, transform, CRS)
    write_splits(root, {"train": [], "val": [], "test": ["s"]})
    return root


def train_config(folder: Path) -> Path:
    config = {
        "model": {
            "class_path": "roadkd.tasks.SupervisedStudent",
            "init_args": {"student": {"arch": "Unet", "encoder": "resnet18"}},
        },
        "data": {
            "class_path": "roadkd.datamodules.RoadDataModule",
            "init_args": {"root": str(folder / "nowhere")},
        },
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
    }
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


Build = Callable[[Path, Path], list[str]]


@dataclass
class Case:
    """A mistake: ``build(tmp_path, model)`` makes the files and returns the arguments."""

    name: str
    build: Build
    code: int
    message: str


def predict(*extra: str, scenes: tuple[str, ...] = ("scene.tif",), out: str = "r.geojson") -> Build:
    """A predict run on scene.tif (made here), with ``extra`` options."""

    def build(tmp: Path, model: Path) -> list[str]:
        scene(tmp / "scene.tif")
        (tmp / "r.geojson").write_text('{"type": "FeatureCollection", "features": []}')
        args = ["predict", *(str(tmp / s) for s in scenes), "--model", str(model)]
        return [*args, "--out", str(tmp / out), *(_in(tmp, e) for e in extra), "--quiet"]

    return build


def _in(tmp: Path, value: str) -> str:
    """Option values naming files are relative to tmp_path (``@name``)."""
    return str(tmp / value[1:]) if value.startswith("@") else value


def with_files(make: Callable[[Path], object], build: Build) -> Build:
    """Make more files before building the arguments."""

    def wrapped(tmp: Path, model: Path) -> list[str]:
        make(tmp)
        return build(tmp, model)

    return wrapped


def command(*args: str) -> Build:
    return lambda tmp, model: [_in(tmp, a) if a != "@model" else str(model) for a in args]


def two_scenes_same_name(tmp: Path) -> None:
    for folder in ("a", "b"):
        (tmp / folder).mkdir()
        scene(tmp / folder / "scene.tif")


def second_scene_truncated(tmp: Path) -> None:
    truncated(tmp / "zz_damaged.tif")


def not_a_checkpoint(kind: str) -> Callable[[Path], object]:
    def make(tmp: Path) -> None:
        train_config(tmp)
        path = tmp / "bad.ckpt"
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "random":
            path.write_bytes(np.random.default_rng(0).bytes(2048))
        elif kind == "truncated":
            torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
            path.write_bytes(path.read_bytes()[:1500])
        elif kind == "foreign":
            torch.save({"weights": torch.zeros(3)}, path)

    return make


TRAIN = ("train", "fit", "--config", "@train.yaml", "--ckpt_path", "@bad.ckpt")
EVALUATE = ("evaluate", "--model", "@model", "--data", "@data")
SHIFTED = Affine(0.21, 0, 445000.0 + 21.0, 0, -0.21, 5030000.0)

CASES = [
    # --- outputs never destroy data -------------------------------------------------------
    Case("prob is the scene", predict("--prob", "@scene.tif"), 1, "is the input scene"),
    Case("out is the scene", predict(out="scene.tif"), 1, "is not an output format"),
    Case("preview not png", predict("--preview", "@scene.tif"), 1, "use .png"),
    Case("prob not tif", predict("--prob", "@p.png"), 1, "use one of .tif, .tiff"),
    Case("polygons kml", predict("--polygons", "@s.kml"), 1, "use one of .geojson"),
    Case("out txt", predict(out="roads.txt"), 1, "is not an output format"),
    Case("out is polygons", predict("--polygons", "@r.geojson"), 1, "must differ from --out"),
    Case("out is preview", predict("--preview", "@r.png", out="r.png"), 1, "is not an output"),
    Case(
        "same file name twice",
        with_files(two_scenes_same_name, predict("--prob", "@probs", scenes=("a", "b"))),
        1,
        "would share the probability file",
    ),
    Case(
        "prob file for two scenes",
        with_files(
            lambda t: scene(t / "other.tif", seed=1),
            predict("--prob", "@p.tif", scenes=("scene.tif", "other.tif")),
        ),
        1,
        "need a folder",
    ),
    Case(
        "failure after the first scene",
        with_files(
            second_scene_truncated,
            predict(
                "--prob", "@probs", "--preview", "@p.png", scenes=("scene.tif", "zz_damaged.tif")
            ),
        ),
        1,
        "zz_damaged.tif: the file is damaged or incomplete",
    ),
    Case("layer without gpkg", predict("--layer", "roads"), 2, "no output is a .gpkg"),
    Case(
        "export onto its model",
        command("export", "--model", "@m.onnx", "--out", "@m.onnx"),
        1,
        "is the model",
    ),
    Case(
        "evaluate onto splits.json",
        with_files(lambda t: dataset(t / "data"), command(*EVALUATE, "--out", "@data/splits.json")),
        1,
        "is the dataset's splits.json",
    ),
    # --- every option checked before work -------------------------------------------------
    Case("batch size 0", predict("--batch-size", "0"), 2, "'--batch-size'"),
    Case("overlap >= model tile", predict("--overlap", "64"), 1, "--overlap must be in"),
    Case(
        "vectorize bridge nan",
        command("vectorize", "@x.tif", "--out", "@r.gpkg", "--bridge-m", "nan"),
        2,
        "not a finite number",
    ),
    Case(
        "export overlap 60 %",
        command("export", "--model", "@model", "--out", "@m.onnx", "--overlap-percent", "60"),
        2,
        "'--overlap-percent'",
    ),
    Case(
        "synth 0 scenes", command("data", "synth", "--out", "@d", "--scenes", "0"), 2, "'--scenes'"
    ),
    Case("synth size 0", command("data", "synth", "--out", "@d", "--size", "0"), 2, "'--size'"),
    Case(
        "roadnet val nan",
        command("data", "roadnet", "@src", "--out", "@d", "--val-fraction", "nan"),
        2,
        "not a finite number",
    ),
    Case(
        "experiment ratio nan",
        command("experiment", "--config", "@e.yaml", "--ratio", "nan"),
        2,
        "not a finite number",
    ),
    # --- no tracebacks --------------------------------------------------------------------
    Case(
        "truncated scene",
        with_files(lambda t: truncated(t / "cut.tif"), predict(scenes=("cut.tif",))),
        1,
        "damaged or incomplete",
    ),
    Case("ckpt missing", with_files(train_config, command(*TRAIN)), 1, "no such file"),
    Case("ckpt empty", with_files(not_a_checkpoint("empty"), command(*TRAIN)), 1, "is empty"),
    Case(
        "ckpt random",
        with_files(not_a_checkpoint("random"), command(*TRAIN)),
        1,
        "not a PyTorch checkpoint",
    ),
    Case(
        "ckpt truncated",
        with_files(not_a_checkpoint("truncated"), command(*TRAIN)),
        1,
        "not a PyTorch checkpoint",
    ),
    Case(
        "ckpt foreign",
        with_files(not_a_checkpoint("foreign"), command(*TRAIN)),
        1,
        "not a Lightning checkpoint",
    ),
    Case(
        "synth under a file",
        with_files(lambda t: (t / "f").write_text("x"), command("data", "synth", "--out", "@f/d")),
        1,
        "is a file, not a folder",
    ),
    # --- evaluate checks its data ---------------------------------------------------------
    Case(
        "mask missing",
        with_files(
            lambda t: (dataset(t / "data") / "masks" / "centerline" / "s.tif").unlink(),
            command(*EVALUATE),
        ),
        1,
        "centerline mask not found",
    ),
    Case(
        "mask of another size",
        with_files(lambda t: dataset(t / "data", rows=60), command(*EVALUATE)),
        1,
        "is 64x60 px but its image",
    ),
    Case(
        "mask shifted 21 m",
        with_files(lambda t: dataset(t / "data", transform=SHIFTED), command(*EVALUATE)),
        1,
        "not on its image's grid",
    ),
    Case(
        "mask of classes",
        with_files(
            lambda t: dataset(t / "data", surface=np.arange(64 * 64).reshape(64, 64) % 4),
            command(*EVALUATE),
        ),
        1,
        "holds the values 0, 1, 2, 3",
    ),
    # --- ... and refuses labels that cannot be scored -------------------------------------
    Case(
        "0/255 masks where 255 is declared unlabelled",
        with_files(lambda t: dataset(t / "data", surface=ROAD * 255), command(*EVALUATE)),
        1,
        "holds only 0 and 255, and splits.json declares ignore_index 255, so no pixel is "
        "labelled road; if 255 marks road there, write road as 1",
    ),
    Case(
        "mask without road",
        with_files(lambda t: dataset(t / "data", surface=ROAD * 0), command(*EVALUATE)),
        1,
        "no scene of split 'test' can be scored (s: its surface mask s.tif labels no pixel",
    ),
    Case(
        "mask all unlabelled",
        with_files(lambda t: dataset(t / "data", surface=ROAD * 0 + 255), command(*EVALUATE)),
        1,
        "every pixel of its surface mask s.tif is 255 (not labelled)",
    ),
]


# --- an option several commands take refuses the same values on each of them -----------------

#: What each command needs to reach its options' checks (files named are never read).
BASE_ARGS: dict[str, tuple[str, ...]] = {
    "predict": ("predict", "@x.tif", "--model", "@model", "--out", "@r.gpkg"),
    "vectorize": ("vectorize", "@x.tif", "--out", "@r.gpkg"),
    "evaluate model": EVALUATE,
    "evaluate layers": ("evaluate", "--truth", "@t.gpkg", "--pred", "@t.gpkg"),
    "export": ("export", "--model", "@model", "--out", "@m.onnx"),
    "data synth": ("data", "synth", "--out", "@d"),
    "data roadnet": ("data", "roadnet", "@src", "--out", "@d"),
    "data from-vectors": ("data", "from-vectors", "@x.tif", "--roads", "@x.tif", "--out", "@d"),
    "data from-osm": ("data", "from-osm", "@x.tif", "--out", "@d"),
    "data osm": ("data", "osm", "@x.tif", "--out", "@o.gpkg"),
    "data spacenet3": ("data", "spacenet3", "@src", "--out", "@d"),
    "experiment": ("experiment", "--config", "@e.yaml"),
}

#: Options that several commands take, with values each of them refuses and the words
#: that say so (a value of several words is given as they follow the option).
SHARED_REFUSALS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "--threshold": [
        (("0",), "0<x<=1"),  # every pixel would be road
        (("1.5",), "0<x<=1"),
        (("nan",), "not a finite number"),
    ],
    "--tile": [(("100",), "multiple of 32"), (("0",), "multiple of 32")],
    "--overlap": [(("-1",), "'--overlap'"), (("64", "--tile", "64"), "not smaller than")],
    "--device": [(("tpu",), "'--device'")],
    "--block": [(("255",), "'--block'")],
    "--workers": [(("0",), "'--workers'")],
    "--layer": [((" ",), "the layer name is empty")],
    "--seed": [(("-1",), "'--seed'"), ((str(2**32),), "'--seed'")],
    "--bands": [(("0,1,2",), "1-based")],
    "--scale": [(("5", "1"), "MIN < MAX"), (("nan", "255"), "MIN < MAX")],
    "--val": [(("1",), "'--val'"), (("-0.1",), "'--val'")],
    "--test": [(("1",), "'--test'")],
    "--uncertain-m": [(("-1",), "'--uncertain-m'")],
    "--default-width-m": [(("0",), "'--default-width-m'")],
    "--block-size": [(("16",), "'--block-size'")],
    "--resolution": [(("0",), "'--resolution'"), (("nan",), "not a finite number")],
    "--progress": [(("xml",), "'--progress'")],
}

#: Options several commands take whose values are not checked by type: files (checked
#: when planned or opened), flags, and a scheduler's address (checked by connecting).
NOT_A_VALUE = {
    "--out",
    "--model",
    "--prob",
    "--polygons",
    "--quiet",
    "--scheduler",
    "--help",
    "--labelled-area",
    "--labelled-area-layer",  # a layer of a file: checked when the file is read
    "--keep-paths",
    "--osm",
    "--overpass-url",
}


def leaf_commands() -> dict[str, click.Command]:
    """Every command that takes options, by the words that run it (``data synth``)."""
    context = click.Context(cli)
    commands: dict[str, click.Command] = {}
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        assert command is not None
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                commands[f"{name} {sub.name}"] = sub
        elif name != "train":  # LightningCLI parses train's arguments
            commands[name] = command
    return commands


def options_of(command: click.Command) -> dict[str, click.Parameter]:
    return {
        name: param
        for param in command.params
        if isinstance(param, click.Option)
        for name in param.opts
        if name.startswith("--")
    }


def shared_options() -> dict[str, dict[str, click.Parameter]]:
    """Option name -> {command: its parameter}, for options two or more commands take."""
    table: dict[str, dict[str, click.Parameter]] = {}
    for name, command in leaf_commands().items():
        for option, param in options_of(command).items():
            table.setdefault(option, {})[name] = param
    return {option: by_command for option, by_command in table.items() if len(by_command) > 1}


def shared_option_cases() -> list[Case]:
    cases = []
    for option, by_command in shared_options().items():
        for name in by_command:
            for value, words in SHARED_REFUSALS.get(option, []):
                build = command(*BASE_ARGS[name], option, *value)
                cases.append(Case(f"{name} {option} {' '.join(value)}", build, 2, words))
    return cases


CASES += shared_option_cases()


def test_every_shared_option_has_one_definition_and_its_refusals() -> None:
    shared = shared_options()
    assert set(shared) - NOT_A_VALUE == set(SHARED_REFUSALS)
    for option, by_command in shared.items():
        if option == "--out":  # a file for some commands, a folder for others
            continue
        kinds = {
            (json.dumps(param.type.to_info_dict(), default=str), param.callback)
            for param in by_command.values()
        }
        assert len(kinds) == 1, f"{option} is declared differently on {sorted(by_command)}"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: relative path -> content hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "folder"
        for p in sorted(folder.rglob("*"))
    }


def own_scratch() -> list[str]:
    """Scratch folders this process left in the system temp folder."""
    mine = f"{SCRATCH_PREFIX}{os.getpid()}-"
    return [p for p in os.listdir(tempfile.gettempdir()) if p.startswith(mine)]


def test_cases_have_distinct_names() -> None:
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_mistake(case: Case, model: Path, tmp_path: Path) -> None:
    (tmp_path / "x.tif").write_bytes(b"")  # files some commands name but never reach
    (tmp_path / "e.yaml").write_text("{}")
    (tmp_path / "src").mkdir()
    args = case.build(tmp_path, model)
    before = snapshot(tmp_path)
    model_before = snapshot(model.parent)
    result = CliRunner().invoke(cli, args)
    output = result.output
    assert result.exit_code == case.code, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert case.message in errors[0], output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert snapshot(tmp_path) == before
    assert snapshot(model.parent) == model_before
    assert not own_scratch()


# --- an output that cannot be replaced: refused before any work, every file as it was ------


@contextlib.contextmanager
def unreplaceable(path: Path) -> Iterator[str]:
    """Make an existing output impossible to replace; yield the words that refuse it.

    As root (whom permissions do not stop): ``chattr +i``. As another user: its folder
    made read-only. Skipped where neither is possible.
    """
    try:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
            try:
                yield "is immutable"
            finally:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            return
    except FileNotFoundError:  # no chattr here
        pass
    folder = path.parent
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("cannot make an output unreplaceable for this user here")
        yield "is not writable"
    finally:
        folder.chmod(0o700)


def lines_layer(path: Path) -> None:
    line = LineString([(445001, 5029990), (445010, 5029990)])
    gpd.GeoDataFrame(geometry=[line], crs=CRS).to_file(path, engine="pyogrio")


#: command builder, the output that cannot be replaced (made here, relative to tmp_path)
UNREPLACEABLE: dict[str, tuple[Build, str]] = {
    "predict --out": (predict(), "r.geojson"),
    "predict --prob": (predict("--prob", "@p.tif"), "p.tif"),
    "predict --polygons": (predict("--polygons", "@s.gpkg"), "s.gpkg"),
    "predict --preview": (predict("--preview", "@v.png"), "v.png"),
    "vectorize --polygons": (
        command("vectorize", "@x.tif", "--out", "@r.gpkg", "--polygons", "@s.shp"),
        "s.shp",
    ),
    "evaluate --errors": (
        with_files(
            lambda t: lines_layer(t / "t.gpkg"),
            command("evaluate", "--truth", "@t.gpkg", "--pred", "@t.gpkg", "--errors", "@e.gpkg"),
        ),
        "e.gpkg",
    ),
    "evaluate --out": (
        with_files(lambda t: dataset(t / "data"), command(*EVALUATE, "--out", "@s.json")),
        "s.json",
    ),
    "export --out": (command("export", "--model", "@model", "--out", "@m.onnx"), "m.onnx"),
    "synth --out": (command("data", "synth", "--out", "@d", "--size", "128"), "d/"),
    "from-vectors --out": (
        with_files(
            lambda t: (scene(t / "scene.tif"), lines_layer(t / "t.gpkg")),
            command("data", "from-vectors", "@scene.tif", "--roads", "@t.gpkg", "--out", "@d"),
        ),
        "d/",
    ),
}


@pytest.mark.parametrize("case", UNREPLACEABLE, ids=list(UNREPLACEABLE))
def test_an_output_that_cannot_be_replaced(case: str, model: Path, tmp_path: Path) -> None:
    build, name = UNREPLACEABLE[case]
    work = tmp_path / "work"  # the folder of inputs and outputs (made read-only as non-root)
    work.mkdir()
    (work / "x.tif").write_bytes(b"")
    args = build(work, model)
    target = work / name
    if name.endswith("/"):
        target.mkdir()  # an empty folder: a dataset may be written there
    elif not target.exists():
        target.write_bytes(b"the user's file")
    before = snapshot(work)
    with unreplaceable(target) as words:
        result = CliRunner().invoke(cli, args)
        assert snapshot(work) == before
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and words in errors[0], result.output
    assert str(target).rstrip("/") in errors[0]
    assert "Traceback" not in result.output
    assert not own_scratch()


# --- what must work ---------------------------------------------------------------------------


def run_ok(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args])
    assert result.exit_code == 0, result.output
    return result.output


def test_gpkg_keeps_the_users_layers(model: Path, tmp_path: Path) -> None:
    gpkg = tmp_path / "roads.gpkg"
    survey = gpd.GeoDataFrame({"note": ["bridge"]}, geometry=[Point(445005, 5029995)], crs=CRS)
    survey.to_file(gpkg, layer="my_survey", engine="pyogrio")
    s = scene(tmp_path / "scene.tif")
    base = ["predict", str(s), "--model", str(model), "--out", str(gpkg), "--quiet"]
    run_ok(*base)
    run_ok(*base, "--layer", "roads_2024")
    layers = dict(pyogrio.list_layers(gpkg))
    assert set(layers) == {
        "my_survey",
        "centerlines",
        "surface",
        "roads_2024",
        "roads_2024_surface",
    }
    kept = gpd.read_file(gpkg, layer="my_survey")
    assert list(kept["note"]) == ["bridge"] and kept.geometry[0].equals(survey.geometry[0])
    assert len(gpd.read_file(gpkg, layer="centerlines")) == len(
        gpd.read_file(gpkg, layer="roads_2024")
    )
    assert not [p for p in os.listdir(tmp_path) if p.startswith(PARTIAL_PREFIX)]


def test_scene_given_twice_is_read_once(model: Path, tmp_path: Path) -> None:
    s = scene(tmp_path / "scene.tif")
    once, twice = tmp_path / "once.gpkg", tmp_path / "twice.gpkg"
    run_ok("predict", str(s), "--model", str(model), "--out", str(once), "--quiet")
    output = run_ok(
        "predict",
        str(s),
        f"{tmp_path}/../{tmp_path.name}/scene.tif",
        "--model",
        str(model),
        "--out",
        str(twice),
        "--quiet",
    )
    assert "given more than once; it was read once" in output
    assert output.startswith("Note") or "1 scene(s)" in output
    surfaces = [len(gpd.read_file(f, layer="surface")) for f in (once, twice)]
    assert surfaces[0] == surfaces[1] > 0  # read twice, every surface would be there twice
    lines = [len(gpd.read_file(f, layer="centerlines")) for f in (once, twice)]
    assert lines[0] == lines[1]


def test_same_stem_scenes_get_their_own_probability(model: Path, tmp_path: Path) -> None:
    from rasterio.shutil import copy

    tif = scene(tmp_path / "scene.tif")
    vrt = tmp_path / "scene.vrt"
    copy(tif, vrt, driver="VRT")
    probs = tmp_path / "probs"
    run_ok(
        "predict",
        str(tif),
        str(vrt),
        "--model",
        str(model),
        "--out",
        str(tmp_path / "r.shp"),
        "--prob",
        str(probs),
        "--quiet",
    )
    assert sorted(os.listdir(probs)) == ["scene_tif_probability.tif", "scene_vrt_probability.tif"]


def test_evaluate_reads_0_255_masks_as_road(model: Path, tmp_path: Path) -> None:
    binary = dataset(tmp_path / "binary")
    road = np.zeros((64, 64), np.uint8)
    road[28:36, :] = 255
    scaled = dataset(tmp_path / "scaled", surface=road)
    # Laid out by hand (splits.json states no ignore_index): 255 can only mean road there.
    splits = json.loads((scaled / "splits.json").read_text())
    del splits["ignore_index"]
    (scaled / "splits.json").write_text(json.dumps(splits))
    scores = []
    for data in (binary, scaled):
        out = data / "scores.json"
        result = CliRunner().invoke(
            cli, ["evaluate", "--model", str(model), "--data", str(data), "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        scores.append(json.loads(out.read_text())["overall"])
        said = result.output.count("read as 255 = road")
        assert said == (1 if data == scaled else 0)
    # the all-road model: road IoU is the road share (8 of 64 rows), not 0
    assert scores[0]["road_iou"] == pytest.approx(8 / 64, abs=1e-3)
    assert scores[1] == scores[0]


def test_evaluate_leaves_out_scenes_whose_masks_label_no_road(model: Path, tmp_path: Path) -> None:
    data = dataset(tmp_path / "data")
    image = np.full((3, 64, 64), 120, np.uint8)
    empty = {"surface": ROAD * 0, "centerline": ROAD * 0}
    write_scene(data, "t", image, empty, TRANSFORM, CRS)
    write_splits(data, {"train": [], "val": [], "test": ["s", "t"]})
    out = tmp_path / "scores.json"
    args = ["evaluate", "--model", str(model), "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "t: not scored, its surface mask t.tif labels no pixel as road" in result.output
    assert "1 of 2 scenes were not scored" in result.output
    scores = json.loads(out.read_text())
    assert list(scores["scenes"]) == ["s"] and list(scores["unscored"]) == ["t"]
    # t's pixels (all background, all called road) are not in the overall: it is s's alone
    assert scores["overall"] == pytest.approx(scores["scenes"]["s"], abs=1e-4)
    assert scores["overall"]["road_iou"] == pytest.approx(8 / 64, abs=1e-3)


def test_evaluate_says_when_masks_look_inverted(model: Path, tmp_path: Path) -> None:
    data = dataset(tmp_path / "data", surface=1 - ROAD)  # background marked 1
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(model), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "88% of the labelled surface pixels are road" in result.output


# --- interruptions ----------------------------------------------------------------------------


def test_sigterm_mid_run_removes_staged_files_and_keeps_old_outputs(
    model: Path, tmp_path: Path
) -> None:
    big = scene(tmp_path / "big.tif", size=768)
    out = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame({"n": [1]}, geometry=[Point(445005, 5029995)], crs=CRS).to_file(
        out, layer="my_survey", engine="pyogrio"
    )
    before = out.read_bytes()
    args = [sys.executable, "-m", "roadkd_cli.main", "predict", str(big), "--model", str(model)]
    args += ["--out", str(out), "--prob", str(tmp_path / "p.tif"), "--tile", "64"]
    args += ["--overlap", "32", "--batch-size", "1", "--device", "cpu", "--quiet"]
    # A crash (seen once under heavy load: SIGSEGV instead of 143) then shows every
    # thread's stack in the assertion message.
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not [p for p in os.listdir(tmp_path) if p.startswith(PARTIAL_PREFIX)]:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        scratch = [
            p
            for p in os.listdir(tempfile.gettempdir())
            if p.startswith(f"{SCRATCH_PREFIX}{process.pid}-")
        ]
        assert scratch  # the run is under way
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr
    assert [line for line in stderr.splitlines() if line.startswith("Error:")] == [
        "Error: stopped by SIGTERM; unfinished outputs were removed"
    ]
    assert "Traceback" not in stderr
    assert sorted(os.listdir(tmp_path)) == ["big.tif", "roads.gpkg"]
    assert out.read_bytes() == before
    assert not (Path(tempfile.gettempdir()) / scratch[0]).exists()


def test_leftovers_of_a_killed_run_are_removed(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = subprocess.Popen(["true"])  # a process id no longer in use
    gone.wait()
    staged = tmp_path / f"{PARTIAL_PREFIX}{gone.pid}-abc"
    staged.mkdir()
    (staged / "roads.gpkg").write_bytes(b"half")
    scratch = Path(tempfile.gettempdir()) / f"{SCRATCH_PREFIX}{gone.pid}-predict-xyz"
    scratch.mkdir()
    alive = tmp_path / f"{PARTIAL_PREFIX}{os.getpid()}-mine"  # a run still working
    alive.mkdir()
    s = scene(tmp_path / "scene.tif")
    args = [
        "roadkd",
        "predict",
        str(s),
        "--model",
        str(model),
        "--out",
        str(tmp_path / "r.geojson"),
    ]
    monkeypatch.setattr(sys, "argv", [*args, "--quiet"])
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as end:
            main()  # the entry point: it sweeps the system temp folder at start
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert end.value.code == 0
    assert not staged.exists() and not scratch.exists()
    assert alive.exists()


def test_qgis_cancel_sends_sigterm_then_sigkill() -> None:
    from roadkd.qgis.roadkd_qgis.process import Cancelled, run, start, stop

    polite = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)",
    ]
    for command, status in ((polite, -signal.SIGTERM), (stubborn, -signal.SIGKILL)):
        process = start(command)  # in a process group of its own, as the plugin starts roadkd
        assert process.stdout is not None and process.stdout.readline() == "up\n"
        assert stop(process, grace=1.0) == (status == -signal.SIGKILL)
        assert process.returncode == status
    # Cancel is noticed while the process prints nothing, and stops it
    seen: list[str] = []
    with pytest.raises(Cancelled):
        run(polite, seen.append, lambda: bool(seen), grace=1.0, poll_seconds=0.05)
    assert seen == ["up"]


def test_sweeps_take_only_roadkd_entries_of_gone_processes(tmp_path: Path) -> None:
    from roadkd.io import remove_stale

    gone = subprocess.Popen(["true"])
    gone.wait()
    names = {
        "roadkd-2024-backup": True,  # a user's folder: never taken for scratch
        f"{SCRATCH_PREFIX}{gone.pid}-predict-x": False,
        f"{SCRATCH_PREFIX}{os.getpid()}-predict-y": True,  # this process: alive
        f"{PARTIAL_PREFIX}{gone.pid}-z": True,  # a staged output, not a scratch folder
    }
    for name in names:
        (tmp_path / name).mkdir()
    removed = remove_stale(tmp_path, SCRATCH_PREFIX)
    assert [p.name for p in removed] == [f"{SCRATCH_PREFIX}{gone.pid}-predict-x"]
    assert {name: (tmp_path / name).exists() for name in names} == names


def test_label_values_and_what_they_mean(tmp_path: Path) -> None:
    from roadkd.errors import RoadkdError
    from roadkd.evaluation import label_encoding, road_labels
    from roadkd.metrics.pixel import IGNORE_INDEX, confusion_counts

    mask = tmp_path / "m.tif"
    pred = np.array([1, 1, 0, 0], np.uint8)
    cases = {  # values -> (encoding, tp, fp, fn, tn) against pred
        (0, 1, 0, 1): ("binary", (1, 1, 1, 1)),
        (0, 255, 0, 255): ("0/255", (1, 1, 1, 1)),  # 255 = road when there is no 1
        (255, 1, 0, 1): ("ignore", (1, 0, 1, 1)),  # beside 0/1, 255 = not labelled
    }
    for values, (encoding, counts) in cases.items():
        array = np.array(values, np.uint8)
        assert label_encoding(mask, np.unique(array)) == encoding
        labels = road_labels(array, encoding)
        assert confusion_counts(pred, labels) == counts
        assert IGNORE_INDEX in labels or encoding != "ignore"
    # A dataset that states ignore_index (every layout roadkd writes) means 255 = unknown.
    assert label_encoding(mask, np.array([0, 255]), ignore_declared=True) == "ignore"
    for values in ((0, 2), (0, 128, 255), (0.0, 0.5)):
        with pytest.raises(RoadkdError, match=r"m\.tif holds the values"):
            label_encoding(mask, np.array(values))
