#!/usr/bin/env bash
# roadkd end to end on the embedded synthetic data, in a few CPU minutes:
# make scenes -> train the two teachers -> distil the student -> detect roads in a test
# scene -> road vectors (GeoJSON), probability GeoTIFF, preview PNG -> evaluate.
set -euo pipefail
OUT=${1:-demo}
ROADKD=${ROADKD:-.venv/bin/roadkd}
DATA="$OUT/data"
mkdir -p "$OUT"

step() { printf '\n== %s\n' "$*"; }

step "1/5 synthetic RoadNet-style scenes -> $DATA"
if [ ! -f "$DATA/splits.json" ]; then
  # One look for every scene: four labelled scenes cannot cover the benchmark's styles.
  "$ROADKD" data synth --out "$DATA" --scenes 6 --size 768 --seed 0 --no-styles
else
  echo "reusing $DATA"
fi

step "2/5 teachers: a CNN and a Transformer, cross pseudo supervision (configs/demo/teachers.yaml)"
"$ROADKD" train fit --config configs/demo/teachers.yaml \
  --data.init_args.root "$DATA" --trainer.default_root_dir "$OUT/runs/teachers"
TEACHERS="$OUT/runs/teachers/checkpoints/best.ckpt"

step "3/5 SSLKD student distilled from the frozen teachers (configs/demo/student.yaml)"
"$ROADKD" train fit --config configs/demo/student.yaml \
  --data.init_args.root "$DATA" --trainer.default_root_dir "$OUT/runs/student" \
  --model.init_args.teachers_checkpoint "$TEACHERS"
STUDENT="$OUT/runs/student/checkpoints/best.ckpt"

SCENE=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['test'][0])" "$DATA/splits.json")
step "4/5 detect roads in test scene $SCENE"
"$ROADKD" predict "$DATA/images/$SCENE.tif" --model "$STUDENT" \
  --out "$OUT/roads.geojson" --polygons "$OUT/road_surface.geojson" \
  --prob "$OUT/road_probability.tif" --preview "$OUT/preview.png"

step "5/5 evaluate teachers and student on the test split"
"$ROADKD" evaluate --model "$TEACHERS" --data "$DATA" --split test --out "$OUT/metrics_teacher.json"
"$ROADKD" evaluate --model "$STUDENT" --data "$DATA" --split test --out "$OUT/metrics_student.json"

printf '\nDone. Open %s in QGIS (with %s underneath), or look at %s.\n' \
  "$OUT/roads.geojson" "$OUT/road_probability.tif" "$OUT/preview.png"
