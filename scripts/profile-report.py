#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sum up make profile's function_graph traces: where a buffer's time goes.

Each runs/profile/profile-<heap>.trace is ftrace's function_graph output of
one CPU, with funcgraph-tail, rooted at dma_heap_ioctl (allocation) and
__fput (the buffer file's release); profile-kept-<heap>.trace has the same
for buffers all kept alive before they are closed. For each root, and for
dma_buf_release (the heap's part of the release, four levels into __fput),
this prints the time per call and its callees down to DEPTH levels, each as
microseconds per root call and share of the root, largest first, leaving
out what takes under 1%.
Functions that are not traced (Rust code, inline functions, notrace ones)
count as their caller's own time.
"""

import collections
import os
import re
import sys

ROOTS = ("dma_heap_ioctl", "__fput")
# Reported as roots of their own, wherever they are called from.
INNER_ROOTS = ("dma_buf_release",)
DEPTH = 3
MIN_SHARE = 0.01
# " 0) + 12.345 us   |      }  /* foo */", " 0)   0.123 us    |    foo();",
# " 0)               |    foo() {"
LINE = re.compile(r"^\s*\d+\)\s+(?:[+!#*@$]\s+)?(?:([\d.]+) us\s+)?\|(\s*)(.*)$")


def parse(path):
    """Returns {root: (calls, {path tuple: total us})}."""
    totals = {r: [0, collections.Counter()] for r in ROOTS + INNER_ROOTS}
    stack = []  # open calls: names
    for raw in open(path, errors="replace"):
        m = LINE.match(raw)
        if not m:
            continue
        dur, indent, body = m.groups()
        body = body.strip()
        if body.endswith("{"):
            stack.append(body[:-1].strip().rstrip("()").strip())
            continue
        if body.startswith("}"):
            if not stack:
                continue
            path_ = tuple(stack)
            stack.pop()
        elif body.endswith(";"):
            path_ = tuple(stack) + (body[:-1].strip().rstrip("()").strip(),)
        else:
            continue
        if dur is None or not path_ or path_[0] not in ROOTS:
            continue
        for root in (path_[0],) + INNER_ROOTS:
            if root not in path_:
                continue
            sub = path_[path_.index(root):]
            entry = totals[root]
            if len(sub) == 1:
                entry[0] += 1
            if len(sub) <= DEPTH + 1:
                entry[1][sub] += float(dur)
    return totals


def report(heap, totals):
    for root, (calls, times) in totals.items():
        if not calls:
            continue
        whole = times[(root,)]
        print(f"{heap}: {root}: {calls} calls, {whole / calls:.1f} us each")

        def walk(prefix):
            kids = [(p, t) for p, t in times.items()
                    if len(p) == len(prefix) + 1 and p[:len(prefix)] == prefix]
            shown = 0.0
            for p, t in sorted(kids, key=lambda kv: -kv[1]):
                shown += t
                if t < MIN_SHARE * whole:
                    continue
                print(f"{'  ' * len(prefix)}{p[-1]:<{44 - 2 * len(prefix)}}"
                      f"{t / calls:10.1f} us {100 * t / whole:5.1f}%")
                walk(p)
            own = times[prefix] - shown
            if kids and own >= MIN_SHARE * whole:
                print(f"{'  ' * len(prefix)}{'(own, untraced callees)':<{44 - 2 * len(prefix)}}"
                      f"{own / calls:10.1f} us {100 * own / whole:5.1f}%")

        walk((root,))
        print()


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "runs/profile"
    found = False
    for name in sorted(os.listdir(run)):
        m = re.match(r"profile-(.+)\.trace$", name)
        if m:
            found = True
            report(m.group(1), parse(os.path.join(run, name)))
    if not found:
        sys.exit(f"profile-report: no traces in {run}")


if __name__ == "__main__":
    main()
