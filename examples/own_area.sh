#!/usr/bin/env bash
# Train on your own area, offline at demo scale: imagery + a road layer you already have
# -> training data -> teachers -> SSLKD student -> roads in a scene the model never saw.
#
# The "user's" imagery is four synthetic scenes; the "user's" road layer is made by
# vectorising the surface labels of two of them (centrelines with a width_m field), and
# labels are declared complete only on part of the area (--labelled-area). Scene 3 is
# held out altogether and only used for prediction at the end.
#
#   examples/own_area.sh [OUT]                      # demo budget (CPU, minutes)
#   TRAIN_ARGS="--trainer.max_epochs 1 --data.init_args.length 16" examples/own_area.sh
set -euo pipefail
OUT=${1:-own_area}
ROADKD=${ROADKD:-.venv/bin/roadkd}
PYTHON=${PYTHON:-.venv/bin/python}
# Extra LightningCLI overrides for both stages (e.g. a shorter budget).
read -r -a EXTRA <<< "${TRAIN_ARGS:-}"
mkdir -p "$OUT"

step() { printf '\n== %s\n' "$*"; }

step "1/7 imagery: four synthetic scenes stand in for your own -> $OUT/imagery"
if [ ! -f "$OUT/imagery/splits.json" ]; then
  "$ROADKD" data synth --out "$OUT/imagery" --scenes 4 --size 768 --seed 7
fi
SCENES=("$OUT"/imagery/images/scene_00{0,1,2}.tif)
HELD_OUT="$OUT/imagery/images/scene_003.tif"

step "2/7 your road layer: centrelines with a width field (here vectorised from labels)"
for n in 0 1; do
  "$ROADKD" vectorize "$OUT/imagery/masks/surface/scene_00$n.tif" \
    --out "$OUT/roads_00$n.gpkg" --extend-ends --min-spur-m 0
done

step "3/7 one road layer in degrees (any CRS works) and the area where it is complete"
"$PYTHON" - "$OUT" <<'EOF'
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import rasterio
import shapely

out = Path(sys.argv[1])
lines = pd.concat(
    [gpd.read_file(out / f"roads_00{n}.gpkg", layer="centerlines") for n in (0, 1)]
)
lines.to_crs("EPSG:4326").to_file(out / "my_roads.gpkg")
# Roads are complete on scene 0 and the western half of scene 1; the rest (the eastern
# half of scene 1, all of scene 2) is imagery without labels.
with rasterio.open(out / "imagery/images/scene_000.tif") as src:
    first = shapely.box(*src.bounds)
with rasterio.open(out / "imagery/images/scene_001.tif") as src:
    left, bottom, right, top = src.bounds
    half = shapely.box(left, bottom, (left + right) / 2, top)
gpd.GeoDataFrame(geometry=[first, half], crs=src.crs).to_file(out / "labelled_area.gpkg")
print(f"{len(lines)} road lines -> {out / 'my_roads.gpkg'} (EPSG:4326)")
EOF

step "4/7 training data from the imagery and the road layer -> $OUT/data"
rm -rf "$OUT/data"
"$ROADKD" data from-vectors "${SCENES[@]}" --roads "$OUT/my_roads.gpkg" \
  --width-field width_m --labelled-area "$OUT/labelled_area.gpkg" \
  --block-size 256 --val 0.15 --test 0.15 --out "$OUT/data"

# Every training block keeps its labels (labeled_ratio 1): the unlabelled stream is the
# imagery outside the labelled area.
DATA_ARGS=(--data.init_args.root "$OUT/data" --data.init_args.labeled_ratio 1)

# A rerun starts its runs afresh (Lightning would write best-v1.ckpt beside the old best).
rm -rf "$OUT/runs/teachers" "$OUT/runs/student"

step "5/7 teachers (configs/demo/teachers.yaml)"
"$ROADKD" train fit --config configs/demo/teachers.yaml "${DATA_ARGS[@]}" \
  --trainer.default_root_dir "$OUT/runs/teachers" "${EXTRA[@]}"
TEACHERS="$OUT/runs/teachers/checkpoints/best.ckpt"

step "6/7 SSLKD student (configs/demo/student.yaml)"
"$ROADKD" train fit --config configs/demo/student.yaml "${DATA_ARGS[@]}" \
  --trainer.default_root_dir "$OUT/runs/student" \
  --model.init_args.teachers_checkpoint "$TEACHERS" "${EXTRA[@]}"
STUDENT="$OUT/runs/student/checkpoints/best.ckpt"

step "7/7 roads in the held-out scene, and scores on the held-out blocks"
"$ROADKD" predict "$HELD_OUT" --model "$STUDENT" --out "$OUT/roads_scene_003.geojson" \
  --prob "$OUT/probability_scene_003.tif" --preview "$OUT/preview_scene_003.png"
"$ROADKD" evaluate --model "$STUDENT" --data "$OUT/data" --split test \
  --out "$OUT/metrics_student.json"

printf '\nDone. Open %s in QGIS over %s.\n' "$OUT/roads_scene_003.geojson" "$HELD_OUT"
