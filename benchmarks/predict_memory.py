"""Peak memory of `predict` for a 4096 px and a 16384 px scene, as a ratio.

Each prediction runs in its own process so that its peak resident memory is its own.
Streaming keeps memory bounded by one band of tiles: target, the larger scene within
1.3x of the smaller.

    python benchmarks/predict_memory.py [--sizes 4096 16384] [--tile 512]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_scene, write_student

CHILD = """
import resource, sys
from roadkd.inference import load_backend, predict_scene
backend = load_backend(sys.argv[1], "cpu")
predict_scene(sys.argv[2], backend, sys.argv[3], int(sys.argv[4]), 64, 4)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--tile", type=int, default=512)
    args = parser.parse_args()
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = write_student(folder / "student.pt", args.tile)
        for size in args.sizes:
            scene = write_scene(folder / f"scene_{size}.tif", size)
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(model),
                    str(scene),
                    str(folder / f"p{size}.tif"),
                    str(args.tile),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            peaks[size] = int(out.stdout.strip().splitlines()[-1]) / 1024  # KiB -> MiB
            print(f"{size:6d} px: peak RSS {peaks[size]:8.1f} MiB")
    small, large = peaks[min(peaks)], peaks[max(peaks)]
    print(f"ratio largest / smallest: {large / small:.2f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
