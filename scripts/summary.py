#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Judge one VM run and print its summary.

  summary.py --run RUNDIR --ksrc KERNEL_TREE --expect kunit,kselftest-x,igt-y

Sources, merged into one count:
  * KUnit: every top-level KTAP document in the serial console (the boot-time
    run, and one per test module loaded later) is parsed by the kernel's own
    tools/testing/kunit/kunit.py parse.
  * kselftest: results/kselftest-*.log, KTAP, checked against its plan.
  * IGT: results/igt-*.log, its "Subtest NAME: RESULT" lines.
  * The project's own IGT tests (igt_tests/), run by igt_runner:
    results/igt_tests/results.json, one row per test program; every
    subtest of every program in results/igt_tests.list (as the program
    lists them, run on the host) must have a result, and a skip is a
    failure. "expect" lines in their output are judged as below, on the
    host's backing files.
  * Device memory: results/devmem-pattern*.log, "expect REGION SIZE OFFSET
    HEX" lines of patterns the guest wrote (through mmap, or by edu's DMA
    in devmem-pattern-edu); each must be found
    at OFFSET in the ivshmem backing file of that SIZE on the host, and in
    no other backing file.
  * Revocation: "absent HEX" lines in any result log, markers written
    through paths into device memory that were revoked; none may be found
    in any ivshmem backing file.
  * The console itself: any WARN, BUG, oops, lockdep, kmemleak, KASAN or
    UBSAN report is one failure each, printed with its lines.
  * QEMU's own output (qemu.log): an emulated device's error ("EDU:", a
    "hardware error") is a failure.
  * The run: a timeout, a guest that did not finish its plan, an expected
    source with no results, or a test program that died without reporting
    are failures too.

With --same-passes-as RUN, every IGT source this run shares with that
earlier run must have passed as many times here as there. The rows of each
run are kept in RUN/summary.json.

The last line is always "N passed, N failed, N skipped". Exit status is 1 if
anything failed.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")

# Kernel reports that fail a run, wherever they come from.
BAD = re.compile(
    r"(WARNING:|BUG:|kernel BUG at|Oops|general protection fault|Kernel panic"
    r"|possible circular locking|possible recursive locking|inconsistent lock state"
    r"|DEBUG_LOCKS_WARN_ON|unreferenced object 0x|suspected memory leak"
    r"|KASAN:|UBSAN:|Call Trace:|RIP: |INFO: task .* blocked|rcu_sched self-detected)")


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.rows = []  # (source, passed, failed, skipped)
        self.failures = []  # human-readable reasons

    def add(self, source, passed, failed, skipped, reasons=()):
        self.passed += passed
        self.failed += failed
        self.skipped += skipped
        self.rows.append((source, passed, failed, skipped))
        self.failures.extend(f"{source}: {r}" for r in reasons)

    def fail(self, source, reason):
        self.add(source, 0, 1, 0, [reason])


def console_lines(run):
    path = os.path.join(run, "console.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [l.rstrip("\r\n") for l in f]
    except FileNotFoundError:
        return []


def ktap_documents(lines):
    """Split the console into top-level KTAP documents."""
    docs, cur = [], None
    for raw in lines:
        line = TIMESTAMP.sub("", raw)
        if line == "KTAP version 1":
            cur = [line]
            docs.append(cur)
        elif cur is not None:
            cur.append(line)
    return docs


def walk_failures(group, prefix=""):
    """Names of the failed cases below a kunit.py JSON group."""
    for case in group.get("test_cases", []):
        if case["status"] in ("FAIL", "ERROR"):
            yield f"{prefix}{case['name']}: {case['status']}"
    for sub in group.get("sub_groups", []):
        yield from walk_failures(sub, f"{prefix}{sub['name']}.")


def judge_kunit(tally, lines, ksrc):
    kunit_py = os.path.join(ksrc, "tools/testing/kunit/kunit.py")
    docs = [d for d in ktap_documents(lines) if not (len(d) > 1 and d[1] == "1..0")]
    if not docs:
        tally.fail("kunit", "no KUnit results in the console")
        return
    for i, doc in enumerate(docs):
        source = "kunit" if len(docs) == 1 else f"kunit[{i}]"
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "ktap.log")
            out = os.path.join(tmp, "out.json")
            with open(log, "w") as f:
                f.write("\n".join(doc) + "\n")
            r = subprocess.run([sys.executable, kunit_py, "parse", f"--json={out}", log],
                               capture_output=True, text=True)
            try:
                with open(out) as f:
                    res = json.load(f)
            except (FileNotFoundError, json.JSONDecodeError):
                tally.fail(source, f"kunit.py parse produced no JSON:\n{r.stdout}{r.stderr}")
                continue
        m = res["misc"]
        reasons = list(walk_failures(res))
        failed = m["failed"] + m["crashed"] + m["errors"]
        if failed and not reasons:
            reasons = [l for l in r.stdout.splitlines() if "ERROR" in l or "FAILED" in l] or ["parse errors"]
        if m["passed"] + failed + m["skipped"] == 0:
            failed, reasons = 1, ["KTAP document with no test results"]
        tally.add(source, m["passed"], failed, m["skipped"], reasons)


def judge_ktap(text):
    """A flat kselftest KTAP stream: its plan and its ok / not ok lines."""
    plan = None
    passed = failed = skipped = 0
    reasons = []
    for line in text.splitlines():
        m = re.match(r"^1\.\.(\d+)", line)
        if m:
            plan = int(m.group(1))
            continue
        m = re.match(r"^(not ok|ok) (\d+)\s*(.*)$", line)
        if not m:
            continue
        desc = m.group(3)
        directive = re.search(r"#\s*(SKIP|TODO|XFAIL)\b", desc, re.I)
        if directive and directive.group(1).upper() in ("SKIP", "TODO"):
            skipped += 1
        elif m.group(1) == "ok":
            passed += 1
        else:
            failed += 1
            reasons.append(f"not ok {m.group(2)} {desc}")
    total = passed + failed + skipped
    if plan is None:
        failed += 1
        reasons.append("no KTAP plan line")
    elif total != plan:
        missing = max(plan - total, 1)
        failed += missing
        reasons.append(f"plan was 1..{plan} but {total} results were reported")
    return passed, failed, skipped, reasons


def judge_igt(text):
    passed = failed = skipped = 0
    reasons = []
    for m in re.finditer(r"^Subtest (\S+): (SUCCESS|FAIL|SKIP|CRASH|TIMEOUT|NOTRUN)", text, re.M):
        if m.group(2) == "SUCCESS":
            passed += 1
        elif m.group(2) in ("SKIP", "NOTRUN"):
            skipped += 1
        else:
            failed += 1
            reasons.append(f"{m.group(1)}: {m.group(2)}")
    return passed, failed, skipped, reasons


def judge_device_memory(run, text, every_image=True):
    """Patterns the guest wrote, looked for in the host's backing files.

    With every_image, each backing file must have had a pattern checked."""
    images = {}
    for img in sorted(glob.glob(os.path.join(run, "ivshmem*.img"))):
        with open(img, "rb") as f:
            images[img] = f.read()
    passed = failed = 0
    reasons = []
    seen = set()
    for m in re.finditer(r"^expect (\S+) (\d+) (\d+) ([0-9a-f]+)$", text, re.M):
        region, size, off, pat = m.group(1), int(m.group(2)), int(m.group(3)), bytes.fromhex(m.group(4))
        own = [i for i, data in images.items() if len(data) == size]
        if len(own) != 1:
            failed += 1
            reasons.append(f"{region}: no single backing file of {size} bytes")
            continue
        seen.add(own[0])
        data = images[own[0]]
        where = f"{region}: {len(pat)} bytes at {off:#x} of {os.path.basename(own[0])}"
        if data[off:off + len(pat)] != pat:
            failed += 1
            reasons.append(f"{where}: found {data[off:off + len(pat)].hex()}, wanted {pat.hex()}")
        elif any(pat in d for i, d in images.items() if i != own[0]):
            failed += 1
            reasons.append(f"{where}: the pattern is in another device's backing file too")
        else:
            passed += 1
            print(f"  device memory: {where}: found on the host", file=sys.stderr)
    for img in images if every_image else ():
        if img not in seen:
            failed += 1
            reasons.append(f"{os.path.basename(img)}: no pattern was checked in it")
    return passed, failed, 0, reasons


def judge_absent(tally, run):
    """Markers the guest wrote through dead paths: in no backing file."""
    markers = []
    for log in sorted(glob.glob(os.path.join(run, "results", "*.log"))):
        with open(log, encoding="utf-8", errors="replace") as f:
            markers += re.findall(r"^absent ([0-9a-f]+)$", f.read(), re.M)
    if not markers:
        return
    images = {}
    for img in sorted(glob.glob(os.path.join(run, "ivshmem*.img"))):
        with open(img, "rb") as f:
            images[os.path.basename(img)] = f.read()
    reasons = []
    for hexpat in markers:
        pat = bytes.fromhex(hexpat)
        found = [name for name, data in images.items() if pat in data]
        if found:
            reasons.append(f"{pat!r}, written through a revoked path, is in {', '.join(found)}")
    print(f"  device memory: {len(markers) - len(reasons)} of {len(markers)} revoked-path markers"
          " absent from every backing file", file=sys.stderr)
    tally.add("device memory (revoked)", len(markers) - len(reasons), len(reasons), 0, reasons)


# Warning-level kernel lines that stock 7.3.4 code prints on a correct run,
# which igt_runner turns into a "dmesg-warn" result:
# - vkms making a device (through configfs, in configfs-devmem-region) whose
#   planes expose formats with alpha but no blend mode property;
# - vkms's simulated vblank timer running more than a frame (16.7 ms) late,
#   which happens under TCG when the host does not run the vCPU in time
#   (seen once in about ten runs of devmem_kms's CRC subtests).
# Any WARN splat still fails the run through the console's judge.
BENIGN_DMESG_WARNINGS = [
    re.compile(r"\[drm\] \[PLANE:\d+:plane-\d+\] pixel format with alpha exposed "
               r"but blend mode not setup\. Please fix\."),
    re.compile(r"\[drm:vkms_crtc_handle_vblank_timeout\] \*ERROR\* vkms failure on "
               r"handling vblank$"),
]


def only_benign_warnings(dmesg):
    """Whether every warning-level line of an IGT test's dmesg is known noise."""
    warnings = [l for l in dmesg.splitlines() if re.match(r"<[0-4]> ", l)]
    return bool(warnings) and all(any(p.search(l) for p in BENIGN_DMESG_WARNINGS)
                                  for l in warnings)


def judge_igt_runner(tally, run, name, rc):
    """The project's IGT tests, run by igt_runner: its results.json."""
    path = os.path.join(run, "results", name, "results.json")
    try:
        with open(path) as f:
            results = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError) as e:
        tally.fail(name, f"igt_runner (exit status {rc}) left no results.json: {e}")
        return
    with open(os.path.join(run, "results", name + ".list")) as f:
        listed = [l.strip()[len("igt@"):] for l in f if l.startswith("igt@")]
    rows = {binary: [0, 0, []] for binary in listed}
    outputs = []
    for test, res in sorted(results.get("tests", {}).items()):
        _, binary, subtest = (test.split("@", 2) + ["", ""])[:3]
        row = rows.setdefault(binary, [0, 0, []])
        result = res.get("result", "none")
        outputs.append(res.get("out", ""))
        if result == "pass" or (result == "dmesg-warn" and
                                only_benign_warnings(res.get("dmesg", ""))):
            row[0] += 1
            continue
        row[1] += 1
        why = " (the project's own tests must not skip)" if result == "skip" else ""
        tail = "\n".join((res.get("out", "") + res.get("err", "")).splitlines()[-15:])
        row[2].append(f"{subtest}: {result}{why}; its last lines:\n{tail}")
    for binary, (p, f_, reasons) in rows.items():
        # Every subtest the program lists (the host runs the static guest
        # program for that) must have a result.
        prog = os.path.join(run, "tests", "igt", binary)
        listing = subprocess.run([prog, "--list-subtests"], capture_output=True, text=True) \
            if os.access(prog, os.X_OK) else None
        if listing is None or listing.returncode:
            f_ += 1
            reasons.append(f"{prog} --list-subtests failed")
        else:
            missing = [t for t in listing.stdout.split()
                       if f"igt@{binary}@{t}" not in results.get("tests", {})]
            f_ += len(missing)
            reasons += [f"{t}: no result" for t in missing]
        if p + f_ == 0:
            f_, reasons = 1, ["no results: did igt_runner run it?"]
        tally.add(f"{name}/{binary}", p, f_, 0, reasons)
    if rc != 0:
        tally.fail(name, f"igt_runner exited {rc}")
    p, f_, s, reasons = judge_device_memory(run, "\n".join(outputs), every_image=False)
    if p + f_:
        tally.add(f"{name} (device memory)", p, f_, s, reasons)


def judge_same_passes(tally, rows, baseline):
    """IGT sources this run shares with the baseline run pass as often."""
    try:
        with open(os.path.join(baseline, "summary.json")) as f:
            base = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError) as e:
        tally.fail("same passes", f"no summary of the run in {baseline}: {e}")
        return
    reasons = []
    shared = 0
    for source, (p, _, _) in rows.items():
        if not source.startswith(("igt-", "igt_tests/")) or source not in base["rows"]:
            continue
        shared += 1
        if p != base["rows"][source][0]:
            reasons.append(f"{source}: {p} passed, {base['rows'][source][0]} in plan {base['plan']}")
    if not shared:
        reasons.append(f"no IGT source in common with plan {base['plan']}")
    tally.add(f"same passes as {base['plan']}", shared - len(reasons) if shared else 0,
              len(reasons), 0, reasons)


def judge_program(tally, run, name):
    log = os.path.join(run, "results", name + ".log")
    rcf = os.path.join(run, "results", name + ".rc")
    if not os.path.exists(rcf):
        tally.fail(name, "did not run (no exit status)")
        return
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    rc = int(open(rcf).read().strip() or -1)
    if name == "igt_tests":
        judge_igt_runner(tally, run, name, rc)
        return
    if name.startswith("kselftest-"):
        p, f_, s, reasons = judge_ktap(text)
        ok_rc = (0, 4)  # kselftest: pass, skip
    elif name.startswith("igt-"):
        p, f_, s, reasons = judge_igt(text)
        ok_rc = (0, 77)  # IGT: success, skip
    elif name.startswith("devmem-pattern"):
        p, f_, s, reasons = judge_device_memory(run, text)
        ok_rc = (0,)
    else:
        raise SystemExit(f"summary.py: unknown result kind {name}")
    if rc not in ok_rc and f_ == 0:
        f_ += 1
        reasons.append(f"exited {rc} without reporting a failed test")
    if p + f_ + s == 0:
        f_, reasons = 1, ["no results reported"]
    if f_:
        tail = "\n".join(text.splitlines()[-15:])
        reasons.append(f"last lines of {os.path.relpath(log, run)}:\n{tail}")
    tally.add(name, p, f_, s, reasons)


def judge_console(tally, lines):
    hits = [i for i, l in enumerate(lines) if BAD.search(TIMESTAMP.sub("", l))]
    if not hits:
        tally.add("console", 0, 0, 0)
        return
    # Group hits closer than 40 lines into one report.
    reports, start, last = [], hits[0], hits[0]
    for i in hits[1:]:
        if i - last > 40:
            reports.append((start, last))
            start = i
        last = i
    reports.append((start, last))
    reasons = []
    for a, b in reports:
        excerpt = "\n".join("    " + l for l in lines[a:min(b + 8, a + 40)])
        reasons.append(f"kernel report at console line {a + 1}:\n{excerpt}")
    tally.add("console", 0, len(reports), 0, reasons)


# Emulated devices reporting a guest's misuse, in QEMU's output.
QEMU_BAD = re.compile(r"(EDU:|hardware error)", re.I)


def judge_qemu_log(tally, run):
    path = os.path.join(run, "qemu.log")
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        bad = [l.rstrip() for l in f if QEMU_BAD.search(l)]
    tally.add("qemu", 0, len(bad), 0, [f"QEMU reported: {l}" for l in bad])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--ksrc", required=True)
    ap.add_argument("--expect", default="", help="comma-separated: kunit, kselftest-NAME, igt-NAME, igt_tests, devmem-pattern[-edu]")
    ap.add_argument("--plan", required=True)
    ap.add_argument("--same-passes-as", metavar="RUN",
                    help="an earlier run whose IGT sources must have passed as often")
    args = ap.parse_args()

    tally = Tally()
    lines = console_lines(args.run)
    if not lines:
        tally.fail("vm", "empty console log: the VM never booted")
    if os.path.exists(os.path.join(args.run, "timeout")):
        tally.fail("vm", open(os.path.join(args.run, "timeout")).read().strip())
    if not any(f"devmem-guest: plan {args.plan} finished" in l for l in lines):
        tally.fail("vm", f"the guest did not finish plan '{args.plan}'")

    expect = [e for e in args.expect.split(",") if e]
    for e in expect:
        if e == "kunit":
            judge_kunit(tally, lines, args.ksrc)
        else:
            judge_program(tally, args.run, e)
    # Programs that ran but were not expected are judged too.
    for rc in sorted(glob.glob(os.path.join(args.run, "results", "*.rc"))):
        name = os.path.basename(rc)[:-3]
        if name not in expect:
            judge_program(tally, args.run, name)
    judge_absent(tally, args.run)
    judge_console(tally, lines)
    judge_qemu_log(tally, args.run)
    rows = {source: (p, f, s) for source, p, f, s in tally.rows}
    if args.same_passes_as:
        judge_same_passes(tally, rows, args.same_passes_as)
    with open(os.path.join(args.run, "summary.json"), "w") as f:
        json.dump({"plan": args.plan, "rows": rows}, f, indent=1)

    print(f"== {args.plan}: results by source ==")
    for source, p, f, s in tally.rows:
        print(f"  {source:32} {p:5} passed {f:4} failed {s:4} skipped")
    if tally.failures:
        print(f"== {args.plan}: failures ==")
        for r in tally.failures:
            print(f"  - {r}")
    print(f"console log: {os.path.join(args.run, 'console.log')}")
    print(f"{tally.passed} passed, {tally.failed} failed, {tally.skipped} skipped")
    sys.exit(1 if tally.failed else 0)


if __name__ == "__main__":
    main()
