"""Classifier throughput and memory on realistic records (title + ~1,000-character description).

    .venv/bin/python bench/classifier_bench.py [--n 2048] [--max-length 32] [--threads 2] [--fp32]

Records are built from the labelled set: each description is extended with repository
boilerplate to about 1,000 characters, as Zenodo/Figshare descriptions are. Prints one JSON
line: records/s for scoring (text composition + features + encoder + head; model load is
timed separately), load seconds, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envision_spiders.classifier import ClassifierConfig, EyeImagingClassifier  # noqa: E402
from envision_spiders.classifier.model import DEFAULT_MAX_LENGTH  # noqa: E402
from envision_spiders.classifier.train import load_training_records  # noqa: E402
from envision_spiders.classifier.training.build import BOILERPLATE  # noqa: E402


def realistic_records(n: int, target_chars: int = 1000, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    base = load_training_records()
    out = []
    for i in range(n):
        r = dict(base[i % len(base)])
        desc = r.get("description") or ""
        while len(desc) < target_chars:
            desc += " " + rng.choice(BOILERPLATE)
        r["description"] = desc[: target_chars + rng.randint(-100, 100)]
        out.append(r)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--fp32", action="store_true")
    args = ap.parse_args()
    records = realistic_records(args.n)
    config = ClassifierConfig(
        max_length=args.max_length, threads=args.threads, encode_batch_size=args.batch_size, quantize=not args.fp32
    )
    clf = EyeImagingClassifier(config)
    t0 = time.perf_counter()
    clf.load()
    load_s = time.perf_counter() - t0
    clf.predict_proba(records[:64])  # warm-up
    cpu0, t0 = time.process_time(), time.perf_counter()
    clf.predict_proba(records)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        json.dumps(
            {
                "n": len(records),
                "mean_description_chars": round(sum(len(r["description"]) for r in records) / len(records)),
                "max_length": args.max_length,
                "threads": args.threads,
                "quantized": not args.fp32,
                "load_seconds": round(load_s, 2),
                "records_per_second": round(len(records) / elapsed, 1),
                "cpu_seconds": round(cpu, 2),
                "load_average_1min": round(os.getloadavg()[0], 2),  # > ~2: other processes shared the cores
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
