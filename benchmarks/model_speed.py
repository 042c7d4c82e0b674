"""CPU forward time of the default teachers and student, as ratios in one run.

The design asks for a student under ~5 M parameters and at least 5x faster than the
teachers on a CPU.

    python benchmarks/model_speed.py [--size 512] [--repeats 5]
"""

import argparse
import statistics
import time

import torch

from roadkd.models import ModelConfig, build_model

MODELS = {
    "teacher A: DeepLabV3+/ResNet-50": ModelConfig(arch="DeepLabV3Plus", encoder="resnet50"),
    "teacher B: SegFormer/MiT-B2": ModelConfig(arch="Segformer", encoder="mit_b2"),
    "student: DeepLabV3+/MobileNetV2": ModelConfig(arch="DeepLabV3Plus", encoder="mobilenet_v2"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = torch.rand(1, 3, args.size, args.size)
    times = {}
    with torch.inference_mode():
        for name, config in MODELS.items():
            model = build_model(config).eval()
            model(x)
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                model(x)
                runs.append(time.perf_counter() - start)
            times[name] = statistics.median(runs)
            params = sum(p.numel() for p in model.parameters()) / 1e6
            print(f"{name:34s} {params:6.1f} M params  {times[name] * 1000:8.1f} ms")
    student = times["student: DeepLabV3+/MobileNetV2"]
    for name, seconds in times.items():
        if not name.startswith("student"):
            print(f"speed-up of the student over {name}: {seconds / student:.1f}x")


if __name__ == "__main__":
    main()
