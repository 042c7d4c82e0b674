"""Road IoU of ordinary variants of a test scene, as a ratio of the original's IoU.

The variants are made from the scene in this run: resampled to 1.0 m and 0.105 m,
reprojected to EPSG:4326, stored as uint16 (x16) and float32 (/255). Each goes through
``predict_scene`` (which brings it to the model's grid, CRS and 0-255 range); the probability
(>= 0.5) is scored against the surface label on the label's grid. Goals (issue 11): 1.0 m
>= 0.85, 0.105 m >= 0.95, EPSG:4326 >= 0.97, uint16 and float32 >= 0.97.

    python benchmarks/imagery_variants.py demo/runs/student/checkpoints/best.ckpt \
        [--data demo/data] [--scene scene_005]
"""

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.vrt import WarpedVRT
from rasterio.warp import Resampling, calculate_default_transform

from roadkd.datasets.layout import image_path, mask_path, read_splits
from roadkd.imagery import ReadOptions, read_on_grid
from roadkd.inference import load_backend, predict_scene
from roadkd.inference.backends import Backend
from roadkd.metrics.pixel import IGNORE_INDEX

Variant = Callable[[Path, Path], None]


def _write(out: Path, pixels: np.ndarray, profile: dict[str, object]) -> None:
    profile = {**profile, "count": pixels.shape[0], "dtype": pixels.dtype.name}
    profile.update(height=pixels.shape[1], width=pixels.shape[2], driver="GTiff")
    profile.update(tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(pixels)


def _warped(scene: Path, out: Path, crs: object, res: float, resampling: Resampling) -> None:
    with rasterio.open(scene) as src:
        transform, width, height = calculate_default_transform(
            src.crs, crs, src.width, src.height, *src.bounds, resolution=res
        )
        with WarpedVRT(
            src, crs=crs, transform=transform, width=width, height=height, resampling=resampling
        ) as vrt:
            pixels = vrt.read()
            profile = {"crs": vrt.crs, "transform": vrt.transform, "photometric": "RGB"}
    _write(out, pixels, profile)


def _crs(scene: Path) -> object:
    with rasterio.open(scene) as src:
        return src.crs


def _degrees_per_metre(scene: Path) -> float:
    with rasterio.open(scene) as src:
        lon_lat = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )[0]
        return float(abs(lon_lat.e)) / float(abs(src.transform.e))


def _scaled(factor: float, dtype: str) -> Variant:
    def make(scene: Path, out: Path) -> None:
        with rasterio.open(scene) as src:
            pixels = (src.read().astype(np.float64) * factor).astype(dtype)
            profile = {"crs": src.crs, "transform": src.transform, "photometric": "RGB"}
        _write(out, pixels, profile)

    return make


VARIANTS: dict[str, tuple[Variant, float]] = {
    "1.0 m": (lambda s, o: _warped(s, o, _crs(s), 1.0, Resampling.average), 0.85),
    "0.105 m": (lambda s, o: _warped(s, o, _crs(s), 0.105, Resampling.bilinear), 0.95),
    "EPSG:4326": (
        lambda s, o: _warped(s, o, "EPSG:4326", 0.21 * _degrees_per_metre(s), Resampling.bilinear),
        0.97,
    ),
    "uint16 x16": (_scaled(16, "uint16"), 0.97),
    "float32 /255": (_scaled(1 / 255, "float32"), 0.97),
}


def road_iou(
    scene: Path, label: Path, backend: Backend, folder: Path, options: ReadOptions | None = None
) -> float:
    """IoU of the predicted road (p >= 0.5) against the surface label, on the label's grid."""
    prob_path = folder / f"{scene.stem}_prob.tif"
    predict_scene(
        scene,
        backend,
        prob_path,
        backend.data.tile_size,
        backend.data.tile_size // 8,
        4,
        options=options,
        log=lambda line: print(f"  {line}"),
    )
    with rasterio.open(label) as src:
        truth, crs, transform = src.read(1), src.crs, src.transform
    prob = read_on_grid(prob_path, crs, transform, truth.shape)
    counted = truth != IGNORE_INDEX
    pred, road = np.nan_to_num(prob) >= 0.5, truth == 1
    union = (pred | road) & counted
    return float(((pred & road) & counted).sum() / max(1, union.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path, help="trained student (.ckpt or .onnx)")
    parser.add_argument("--data", type=Path, default=Path("demo/data"))
    parser.add_argument("--scene", default=None, help="scene name (default: first test scene)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    scene_name = args.scene or read_splits(args.data)["test"][0]
    scene, label = image_path(args.data, scene_name), mask_path(args.data, scene_name)
    backend = load_backend(args.checkpoint, args.device)
    print(f"model {args.checkpoint} at {backend.data.resolution_m} m/px; scene {scene}")
    with tempfile.TemporaryDirectory(prefix="roadkd-variants-") as tmp:
        folder = Path(tmp)
        print("original")
        reference = road_iou(scene, label, backend, folder)
        rows: list[tuple[str, float, float, float | None]] = [
            ("original", reference, reference, None)
        ]
        for name, (make, target) in VARIANTS.items():
            variant = folder / f"{name.replace(' ', '_').replace(':', '').replace('/', '')}.tif"
            make(scene, variant)
            print(name)
            rows.append((name, road_iou(variant, label, backend, folder), reference, target))
        print("\n1.0 m without resampling (--native-resolution, --any-resolution), for reference")
        native = ReadOptions(native_resolution=True, any_resolution=True)
        unresampled = road_iou(folder / "1.0_m.tif", label, backend, folder, native)
        rows.append(("1.0 m native", unresampled, reference, None))
    print(f"\n{'variant':<14} {'IoU':>6} {'ratio':>6}  goal")
    for name, iou, ref, goal in rows:
        ratio = iou / ref if ref else float("nan")
        verdict = "" if goal is None else f">= {goal:.2f} {'met' if ratio >= goal else 'NOT met'}"
        print(f"{name:<14} {iou:6.3f} {ratio:6.3f}  {verdict}")


if __name__ == "__main__":
    main()
