#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sum up make profile's sampled profiles: where the kernel's time goes.

Each runs/profile/results/sample-<heap>-<threads>.txt holds the kernel call
chains devmem_sample took on every CPU while <threads> threads allocated and
closed 4 KiB buffers of <heap>, and results/kallsyms the guest's text symbols.
For each, this prints the share of the CPUs' samples spent idle, then, of the
busy samples, the functions they were in (inclusive: anywhere in the chain)
and those they ended in (self), largest first, leaving out what takes under
MIN_SHARE. Shares of one run are what to compare; "busy samples per 1,000
buffers" compares runs of one boot.
"""

import bisect
import collections
import os
import re
import shutil
import subprocess
import sys

MIN_SHARE = 0.02
TOP = 25
# Frames that mean the CPU had nothing to do.
IDLE = {"do_idle", "cpu_startup_entry"}
NAME_WIDTH = 72


def load_symbols(path):
    """Returns sorted addresses and their names, from /proc/kallsyms text."""
    syms = []
    for line in open(path):
        fields = line.split()
        if len(fields) >= 3 and fields[1] in "tT":
            syms.append((int(fields[0], 16), fields[2]))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def demangle(names):
    """Rust symbols demangled, if the host has llvm-cxxfilt."""
    tool = shutil.which("llvm-cxxfilt-19") or shutil.which("llvm-cxxfilt")
    if not tool or not names:
        return {n: n for n in names}
    out = subprocess.run([tool], input="\n".join(names), capture_output=True,
                         text=True, check=True).stdout.splitlines()
    return dict(zip(names, out)) if len(out) == len(names) else {n: n for n in names}


def parse(path, addrs, names):
    """Returns (chains of function names, innermost first, facts {key: value})."""
    chains, facts = [], {}
    for line in open(path):
        fields = line.split()
        if not fields:
            continue
        if fields[0] != "sample":
            facts[fields[0]] = float(fields[1])
            continue
        chain = []
        for a in fields[2:]:
            i = bisect.bisect_right(addrs, int(a, 16)) - 1
            chain.append(names[i] if i >= 0 else "?")
        chains.append(chain)
    return chains, facts


def report(label, chains, facts, pretty):
    busy = [c for c in chains if c and not IDLE.intersection(c)]
    ops = facts.get("ops", 0)
    print(f"{label}: {int(ops)} buffers in {facts.get('seconds', 0):g} s, "
          f"{len(chains)} samples, {100 * (len(chains) - len(busy)) / max(len(chains), 1):.0f}% "
          f"idle, {1000 * len(busy) / max(ops, 1):.2f} busy samples per 1,000 buffers, "
          f"{int(facts.get('lost', 0))} lost")
    inclusive, own = collections.Counter(), collections.Counter()
    for chain in busy:
        inclusive.update(set(chain))
        own[chain[0]] += 1
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"  {title}:")
        for name, n in counts.most_common(TOP):
            if n < MIN_SHARE * len(busy):
                break
            print(f"    {100 * n / len(busy):5.1f}%  {pretty[name][:NAME_WIDTH]}")
    print()


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "runs/profile/results"
    files = sorted(f for f in os.listdir(run) if re.match(r"sample-.+-\d+\.txt$", f))
    if not files:
        sys.exit(f"sample-report: no samples in {run}")
    addrs, names = load_symbols(os.path.join(run, "kallsyms"))
    runs = []
    for f in files:
        label = re.match(r"sample-(.+)-(\d+)\.txt$", f)
        chains, facts = parse(os.path.join(run, f), addrs, names)
        runs.append((f"{label.group(1)}, {label.group(2)} thread(s)", chains, facts))
    pretty = demangle(sorted({n for _, chains, _ in runs for c in chains for n in c}))
    for label, chains, facts in runs:
        report(label, chains, facts, pretty)


if __name__ == "__main__":
    main()
