"""Classifier throughput and memory on realistic records (title + ~1,000-character description).

    .venv/bin/python bench/classifier_bench.py [--n 2048] [--max-length 32] [--threads 2] [--int8] [--compare]

Records are built from the labelled set: each description is extended with repository
boilerplate to about 1,000 characters, as Zenodo/Figshare descriptions are. Prints one JSON
line: records/s for scoring (text composition + features + encoder + head; model load is
timed separately), load seconds, and the process's peak RSS. ``--compare`` runs the shipped
configuration (fp32, composed text with the description's image sentences first), the plain
fp32 encoder (description as it comes) at the same token budget and at the model's own 256
tokens (reading the whole description), and the shipped configuration with int8 quantisation,
one after the other, each in its own process so that each peak RSS is its own, and prints the
four lines and the speed ratios (wall clock and CPU seconds; on a shared machine the CPU ratio
is the steadier one, use ``--threads 1``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
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

PLAIN_MAX_LENGTH = 256  # all-MiniLM-L6-v2's own max_seq_length: the plain encoder reads the whole description


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
    ap.add_argument("--int8", action="store_true", help="int8 dynamic quantisation (CLASSIFIER_QUANTIZE = True)")
    ap.add_argument("--plain", action="store_true", help="description as it comes (no salient-sentence reordering)")
    ap.add_argument("--compare", action="store_true", help="shipped configuration vs plain fp32, one process each")
    args = ap.parse_args()
    if args.compare:
        base = [sys.executable, __file__, "--n", str(args.n), "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
        common = base + ["--max-length", str(args.max_length)]
        full = base + ["--max-length", str(PLAIN_MAX_LENGTH)]
        lines = [subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                 for cmd in (common, common + ["--plain"], full + ["--plain"], common + ["--int8"])]
        shipped, same_budget, whole, int8 = (json.loads(line) for line in lines)
        for line in lines:
            print(line)
        print(json.dumps({
            "speedup_vs_plain_fp32_whole_description": round(shipped["records_per_second"] / whole["records_per_second"], 2),
            "speedup_vs_plain_fp32_same_budget": round(shipped["records_per_second"] / same_budget["records_per_second"], 2),
            "cpu_ratio_vs_plain_fp32_whole_description": round(whole["cpu_seconds"] / shipped["cpu_seconds"], 2),
            "cpu_ratio_vs_plain_fp32_same_budget": round(same_budget["cpu_seconds"] / shipped["cpu_seconds"], 2),
            "speedup_of_int8_over_shipped": round(int8["records_per_second"] / shipped["records_per_second"], 2),
        }))
        return
    if args.plain:
        import envision_spiders.classifier.text as text

        text.salient_description = lambda description, budget=0: description
    records = realistic_records(args.n)
    config = ClassifierConfig(
        max_length=args.max_length, threads=args.threads, encode_batch_size=args.batch_size, quantize=args.int8
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
                "quantized": args.int8,
                "salient_sentences": not args.plain,
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
