#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The table of make bench, from the guest's results.

  bench-report.py RUNDIR

Reads RUNDIR/results/bench.txt ("result METRIC HEAP VALUE UNIT" lines of
scripts/bench/devmem_bench.c), prints the table with the devmem heaps'
ratios to the system heap and the goals of each row, and writes it as
RUNDIR/bench.csv and as a chart, RUNDIR/bench.png. Exit status 1 if a goal
is missed or a result is missing.
"""
import math
import os
import struct
import sys
import zlib

HEAPS = ["system", "ivshmem", "ivshmem-contiguous"]

# Rows: label, metric, unit, goal. A goal ("max", x) bounds the ratio
# devmem / system from above; ("min", x) from below; None is none.
ROWS = [
    ("alloc 4 KiB, median", "alloc-4k-median", "us", ("max", 1.0)),
    ("alloc 4 KiB, p99", "alloc-4k-p99", "us", ("max", 1.5)),
    ("alloc 64 KiB, median", "alloc-64k-median", "us", ("max", 1.0)),
    ("alloc 64 KiB, p99", "alloc-64k-p99", "us", ("max", 1.5)),
    ("alloc 1 MiB, median", "alloc-1024k-median", "us", ("max", 1.0)),
    ("alloc 1 MiB, p99", "alloc-1024k-p99", "us", ("max", 1.5)),
    ("alloc 16 MiB, median", "alloc-16384k-median", "us", None),
    ("alloc 64 MiB, median", "alloc-65536k-median", "us", ("max", 0.1)),
    ("mmap + touch 1 MiB", "touch-1024k", "us", ("max", 1.0)),
    ("mmap + touch 64 MiB", "touch-65536k", "us", ("max", 1.0)),
    ("vmap 16 MiB", "vmap-16384k", "us", None),
    ("4 KiB buffers kept alive", "scale-count", "buffers", ("min", 1.0)),
    ("  first tenth, median", "scale-first-tenth", "us", None),
    ("  last tenth, median", "scale-last-tenth", "us", None),
    ("  last / first tenth", "scale-growth", "x", ("self", 1.2)),
    ("  closing them all", "scale-close", "ms", ("max", 1.0)),
    ("  then clearing them, background", "scale-scrub", "ms", None),
    ("  kernel memory per buffer", "scale-kmem", "bytes", None),
    ("parallel 4 KiB, 1 thread", "parallel-1", "allocs/s", None),
    ("parallel 4 KiB, all CPUs", "parallel-all", "allocs/s", None),
    ("  scaling", "parallel-scaling", "x", ("min", 1.0)),
]


def parse(log):
    res = {}
    for line in open(log, errors="replace"):
        f = line.split()
        if len(f) == 5 and f[0] == "result":
            res[(f[1], f[2])] = float(f[3])
    return res


def judge(goal, sys_v, dev_v):
    """(ratio, met) of a devmem heap's value against the system heap's."""
    if dev_v is None or sys_v is None:
        return None, False if goal else None
    ratio = dev_v / sys_v if sys_v else math.inf
    if goal is None:
        return ratio, None
    kind, bound = goal
    if kind == "self":
        return ratio, dev_v <= bound
    return ratio, ratio <= bound if kind == "max" else ratio >= bound


# A 5x7 font for the chart's labels: each glyph is 7 rows of 5 bits.
FONT = {
    "0": "0E 11 13 15 19 11 0E", "1": "04 0C 04 04 04 04 0E", "2": "0E 11 01 02 04 08 1F",
    "3": "1F 02 04 02 01 11 0E", "4": "02 06 0A 12 1F 02 02", "5": "1F 10 1E 01 01 11 0E",
    "6": "06 08 10 1E 11 11 0E", "7": "1F 01 02 04 08 08 08", "8": "0E 11 11 0E 11 11 0E",
    "9": "0E 11 11 0F 01 02 0C", "A": "0E 11 11 1F 11 11 11", "B": "1E 11 11 1E 11 11 1E",
    "C": "0E 11 10 10 10 11 0E", "D": "1C 12 11 11 11 12 1C", "E": "1F 10 10 1E 10 10 1F",
    "F": "1F 10 10 1E 10 10 10", "G": "0E 11 10 17 11 11 0F", "H": "11 11 11 1F 11 11 11",
    "I": "0E 04 04 04 04 04 0E", "J": "07 02 02 02 02 12 0C", "K": "11 12 14 18 14 12 11",
    "L": "10 10 10 10 10 10 1F", "M": "11 1B 15 15 11 11 11", "N": "11 11 19 15 13 11 11",
    "O": "0E 11 11 11 11 11 0E", "P": "1E 11 11 1E 10 10 10", "Q": "0E 11 11 11 15 12 0D",
    "R": "1E 11 11 1E 14 12 11", "S": "0F 10 10 0E 01 01 1E", "T": "1F 04 04 04 04 04 04",
    "U": "11 11 11 11 11 11 0E", "V": "11 11 11 11 11 0A 04", "W": "11 11 11 15 15 15 0A",
    "X": "11 11 0A 04 0A 11 11", "Y": "11 11 11 0A 04 04 04", "Z": "1F 01 02 04 08 10 1F",
    " ": "00 00 00 00 00 00 00", ".": "00 00 00 00 00 0C 0C", "-": "00 00 00 1F 00 00 00",
    ",": "00 00 00 00 0C 04 08", "/": "00 01 02 04 08 10 00", "+": "00 04 04 1F 04 04 00",
    "<": "02 04 08 10 08 04 02", ">": "08 04 02 01 02 04 08", "=": "00 00 1F 00 1F 00 00",
    "(": "02 04 08 08 08 04 02", ")": "08 04 02 02 02 04 08", ":": "00 0C 0C 00 0C 0C 00",
}


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (3 * w * h))

    def rect(self, x0, y0, x1, y1, rgb):
        for y in range(max(0, y0), min(self.h, y1)):
            row = 3 * (y * self.w)
            for x in range(max(0, x0), min(self.w, x1)):
                self.px[row + 3 * x:row + 3 * x + 3] = bytes(rgb)

    def text(self, x, y, s, rgb=(0, 0, 0)):
        for ch in s.upper():
            rows = FONT.get(ch, FONT[" "]).split()
            for r, bits in enumerate(rows):
                v = int(bits, 16)
                for c in range(5):
                    if v & (0x10 >> c):
                        self.rect(x + c, y + r, x + c + 1, y + r + 1, rgb)
            x += 6

    def save(self, path):
        raw = b"".join(b"\0" + bytes(self.px[3 * self.w * y:3 * self.w * (y + 1)])
                       for y in range(self.h))

        def chunk(kind, data):
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
            f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)))
            f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
            f.write(chunk(b"IEND", b""))


def chart(rows, path):
    """Each row's ratios (devmem / system) on a log axis from 1/100 to 100."""
    label_w, plot_x, plot_w, row_h = 170, 180, 600, 22
    c = Canvas(plot_x + plot_w + 20, 40 + row_h * len(rows) + 30)
    c.text(10, 10, "devmem heap / system heap, log scale; bar: ivshmem (top), "
           "contiguous; mark: goal")

    def xpos(r):
        r = min(max(r, 0.01), 100)
        return plot_x + int((math.log10(r) + 2) / 4 * plot_w)

    top = 40
    for tick in (0.01, 0.1, 1, 10, 100):
        c.rect(xpos(tick), top - 4, xpos(tick) + 1, top + row_h * len(rows), (190, 190, 190))
        c.text(xpos(tick) - 9, top + row_h * len(rows) + 6, f"{tick:g}")
    for i, (label, goal, ratios) in enumerate(rows):
        y = top + i * row_h
        c.text(10, y + 6, label[:label_w // 6])
        for j, (ratio, met) in enumerate(ratios):
            if ratio is None:
                continue
            rgb = (60, 160, 60) if met else (200, 60, 60) if met is False else (90, 110, 200)
            x0, x1 = sorted((xpos(1), xpos(ratio)))
            c.rect(x0, y + 3 + 8 * j, max(x1, x0 + 1), y + 10 + 8 * j, rgb)
        if goal and goal[0] != "self":
            gx = xpos(goal[1])
            c.rect(gx - 1, y + 1, gx + 2, y + row_h - 3, (0, 0, 0))
    c.save(path)


def main():
    run = sys.argv[1]
    res = parse(os.path.join(run, "results", "bench.txt"))
    missed, goals, table, chart_rows = 0, 0, [], []
    print(f"{'what':28} {'system':>12} {'ivshmem':>12} {'contiguous':>12} "
          f"{'ratio':>7} {'ratio c':>7}  goal")
    for label, metric, unit, goal in ROWS:
        vals = [res.get((metric, h)) for h in HEAPS]
        judged = [judge(goal, vals[0], v) for v in vals[1:]]
        ok = all(met is not False for _, met in judged)
        missed += not ok
        goals += goal is not None
        goal_s = "" if goal is None else (
            f"<= {goal[1]:g}" if goal[0] in ("max",) else
            f">= {goal[1]:g}" if goal[0] == "min" else f"own <= {goal[1]:g}")
        cells = [f"{v:12.1f}" if v is not None else f"{'-':>12}" for v in vals]
        ratios = [f"{r:7.2f}" if r is not None else f"{'-':>7}" for r, _ in judged]
        mark = "" if goal is None else ("ok" if ok else "MISSED")
        print(f"{label:28} {' '.join(cells)} {' '.join(ratios)}  {goal_s} {mark} ({unit})")
        table.append([label, unit] + [("" if v is None else f"{v:.3f}") for v in vals]
                     + [("" if r is None else f"{r:.3f}") for r, _ in judged]
                     + [goal_s, mark])
        chart_rows.append((label, goal, judged))
    errors = [k for k in res if k[0] == "error"]
    for _, heap in errors:
        print(f"error: the benchmark failed on {heap}")
    with open(os.path.join(run, "bench.csv"), "w") as f:
        f.write("what,unit,system,ivshmem,ivshmem-contiguous,ratio ivshmem,"
                "ratio ivshmem-contiguous,goal,met\n")
        for row in table:
            f.write(",".join(row) + "\n")
    chart(chart_rows, os.path.join(run, "bench.png"))
    print(f"table: {os.path.join(run, 'bench.csv')}, chart: {os.path.join(run, 'bench.png')}")
    print(f"bench: {goals - missed} of {goals} goals met")
    return 1 if missed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
