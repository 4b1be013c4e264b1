"""Benchmark: photo analysis of 12-megapixel photos against a plain full-resolution decode.

    .venv/bin/python bench/vision.py [--photos N] [--repeat R] [--seed S]

Generates N synthetic 4032 × 3024 JPEG inspection photos (tests/inspect/synth.py), then for
each photo times, interleaved and R times each, ``cv2.imdecode(..., IMREAD_COLOR)`` of the
same bytes and ``analyze_photo``. Prints the median time per photo of both and their ratio
(target ≤ 1.5). Peak memory: each analysis (and each plain decode, for comparison) runs
in a fresh subprocess that reports the growth of its peak resident set size
(``ru_maxrss``) across the call, since tracemalloc does not see OpenCV's allocations
(target ≤ 400 MB).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 4032, 3024


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux ≥ 4.0); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MB: VmHWM on Linux (resettable, and not
    inherited across exec like ru_maxrss), ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024.0


def _child(path: str, mode: str) -> None:
    """Subprocess body: import everything, read the file, then measure one call."""
    import cv2
    import numpy as np

    from server.inspect import vision
    from tests.inspect import synth  # noqa: F401 - same imports as the parent

    data = Path(path).read_bytes()
    reference = {"lab": [50.0, 0.0, 0.0], "length_mm": 60.0, "width_mm": 40.0, "delta_e_max": 2.0, "size_tolerance_mm": 1.0}
    _reset_peak_rss()
    before = _peak_rss_mb()
    if mode == "analyze":
        result = vision.analyze_photo(data, reference)
        assert result["status"] in ("pass", "fail", "unusable")
    else:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
    after = _peak_rss_mb()
    print(f"{after - before:.1f} {after:.1f}")


def _measure_rss(path: Path, mode: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), mode], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=8, help="number of 12 MP photos (default 8)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per photo (default 5)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=None, help="cv2.setNumThreads for the whole run (default: OpenCV's own)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    import cv2
    import numpy as np

    from server.inspect import vision
    from tests.inspect import synth

    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads", flush=True)
    print(f"generating {args.photos} synthetic {WIDTH} x {HEIGHT} JPEGs ...", flush=True)
    photos = []
    for k in range(args.photos):
        data, truth = synth.make_photo(args.seed + k, size_px=(WIDTH, HEIGHT))
        photos.append((data, truth))

    decode_times, analyze_times, ratios, rows = [], [], [], []
    cpu_dec, cpu_ana = [], []  # CPU seconds (all threads): steadier than wall time on a busy machine
    with tempfile.TemporaryDirectory() as tmp:
        for k, (data, truth) in enumerate(photos):
            buf = np.frombuffer(data, np.uint8)
            t_dec, t_ana = [], []
            result = None
            for _ in range(args.repeat):
                c0, t0 = time.process_time(), time.perf_counter()
                image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                c1, t1 = time.process_time(), time.perf_counter()
                result = vision.analyze_photo(data, synth.reference_for(truth))
                c2, t2 = time.process_time(), time.perf_counter()
                del image
                t_dec.append(t1 - t0)
                t_ana.append(t2 - t1)
                cpu_dec.append(c1 - c0)
                cpu_ana.append(c2 - c1)
            d, a = statistics.median(t_dec), statistics.median(t_ana)
            decode_times.append(d)
            analyze_times.append(a)
            ratios.append(a / d)
            path = Path(tmp) / f"photo{k}.jpg"
            path.write_bytes(data)
            rss_analyze, peak_analyze = _measure_rss(path, "analyze")
            rss_decode, _ = _measure_rss(path, "decode")
            size_err = max(abs(result["length_mm"] - truth.length_mm), abs(result["width_mm"] - truth.width_mm)) if result["length_mm"] else float("nan")
            rows.append((k, len(data), d, a, a / d, rss_decode, rss_analyze, peak_analyze, result["status"], result["delta_e_cie2000"], size_err))
            print(
                f"photo {k}: {len(data) / 1e6:.2f} MB  decode {d * 1000:6.1f} ms  analyze {a * 1000:6.1f} ms  "
                f"ratio {a / d:4.2f}  peak RSS growth: decode {rss_decode:5.1f} MB, analyze {rss_analyze:5.1f} MB "
                f"(process peak {peak_analyze:.0f} MB)  status {result['status']}  dE00 {result['delta_e_cie2000']}  "
                f"size err {size_err:.2f} mm  {'; '.join(result['reasons'])}",
                flush=True,
            )

    med_dec = statistics.median(decode_times)
    med_ana = statistics.median(analyze_times)
    worst_rss = max(r[6] for r in rows)
    print(
        f"SUMMARY photos={len(rows)} {WIDTH}x{HEIGHT}: median decode {med_dec * 1000:.1f} ms, "
        f"median analyze {med_ana * 1000:.1f} ms, ratio {med_ana / med_dec:.2f} (target <= 1.5; "
        f"median of per-photo ratios {statistics.median(ratios):.2f}); "
        f"peak RSS growth per analysis max {worst_rss:.0f} MB (target <= 400 MB)"
    )
    print(
        f"CPU time (all threads): median decode {statistics.median(cpu_dec) * 1000:.1f} ms, median analyze "
        f"{statistics.median(cpu_ana) * 1000:.1f} ms, ratio {statistics.median(cpu_ana) / statistics.median(cpu_dec):.2f}; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
