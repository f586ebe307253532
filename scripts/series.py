#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make series: the project as a patch series against Linux 7.3.4.

The series is written with git format-patch, with a cover letter, in the
order a maintainer reads it: the kernel changes the component builds on
(mm, PCI, dma-buf), the kernel-crate abstractions, the framework, its
drivers, the DRM glue, the vkms changes, the tests, the documentation and
the MAINTAINERS entry. SERIES below says what each patch holds: patches of
patches/ (their headers give subject and message) and the project's new
files, under their tree paths. Kconfig grows with the series: each patch
brings the entries of its own options, so that every step configures and
builds with only what came before.

The series is made in a git repository that starts from the pristine
content of every file it touches (the overlay keeps those, see
overlay.py). Then it checks that:
  - every file the overlay puts in the tree is in the series;
  - the series applies with git am (whitespace errors fatal) onto that
    pristine base, and the result is, file by file, the overlaid tree;
  - every patch passes checkpatch.
Usage: series.py REPO KERNEL_TREE OVERLAY_STATE OUT_DIR
"""

import email
import os
import re
import shutil
import subprocess
import sys

AUTHOR = "devmem-heap <devmem-heap@localhost>"
SIGNOFF = "Signed-off-by: " + AUTHOR

# Where the project's directories land in the tree (as overlay.py puts them).
COMPONENT = "drivers/dma-buf/devmem"

# Each entry: (subject, message or None for a patch's own, patches, new
# files by repo path, Kconfig options it adds).
SERIES = [
    (None, None, ["0012"], [], []),
    (None, None, ["0023"], [], []),
    (None, None, ["0024"], [], []),
    (None, None, ["0013"], [], []),
    (None, None, ["0009"], [], []),
    (None, None, ["0020"], [], []),
    (None, None, ["0004"], [], []),
    (None, None, ["0010"], [], []),
    (None, None, ["0011"], [], []),
    (None, None, ["0006"], [], []),
    (None, None, ["0019"], [], []),
    (None, None, ["0028"], [], []),
    (None, None, ["0007"], [], []),
    (None, None, ["0008"], [], []),
    (None, None, ["0022"], [], []),
    ("rust: dma-buf: add dma-buf and dma-buf heap abstractions",
     """Add kernel::dma_buf: exporters (Exported<T> with an Exporter vtable:
attach, map_dma_buf with the table type of the exporter's choice, mmap,
vmap, release), importers (static and dynamic attachments, with
invalidate_mappings), reservation locks, and, for device memory, I/O
memory kernel mappings that can be redirected (iomem) and DMA-only tables
of a peer-to-peer provider's bus addresses (mmio), and a walk of the
dma-buf core's list of every buffer (DmaBuf::all(), on
dma_buf_iter_begin/next(), which are not exported: built-in code only)
with which an exporter finds its own live buffers without a list of its
own. Add kernel::dma_heap:
a heap node in /dev/dma_heap whose backend a driver sets while it is
bound.

Expose the C headers to bindgen and add the helpers the abstractions need.""",
     ["0002"],
     ["rust/helpers/dma-buf.c", "rust/kernel/dma_buf.rs", "rust/kernel/dma_buf/attachment.rs",
      "rust/kernel/dma_buf/dynamic.rs", "rust/kernel/dma_buf/exporter.rs",
      "rust/kernel/dma_buf/importer.rs", "rust/kernel/dma_buf/iomem.rs",
      "rust/kernel/dma_buf/mmio.rs", "rust/kernel/dma_buf/resv.rs", "rust/kernel/dma_heap.rs"],
     []),
    (None, None, ["0003"], ["rust/kernel/mm/virt/fault.rs"], []),
    (None, None, ["0005"], [], []),
    (None, None, ["0014"], ["rust/helpers/kref.c", "rust/kernel/drm/gem/dma_buf.rs"], []),
    (None, None, ["0025"], ["rust/kernel/cgroup.rs", "rust/kernel/cgroup/dmem.rs"], []),
    ("dma-buf: heaps: add devmem-heap, device memory as dma-buf heaps",
     """Add a framework, in Rust, that lets a driver publish a range of its
device-local memory (a PCI BAR, or any physical range of device memory)
as two dma-buf heaps, <name> and <name>-contiguous, and allocate
dma-bufs from it in the kernel, from Rust or C
(include/linux/devmem_heap.h).

Regions are allocated from with the GPU buddy allocator; every buffer is
zero-filled, freed memory is cleared in the background, and buffers of
one chunk come from per-CPU caches of cleared chunks. Importers get
I/O memory kernel mappings, write-combined user mappings filled in on
demand, and, if they are revocable and have a peer-to-peer route to the
BAR, DMA-only tables of bus addresses; everyone else is refused a DMA
mapping with -EOPNOTSUPP. When the device is unbound the region is
withdrawn and its buffers revoked: importers are told to unmap, fences
are waited for, kernel mappings are pointed at system memory and user
mappings are zapped; a region keeps no list of its buffers, it finds them
in the dma-buf core's. Each region is a region of the dmem cgroup
controller, and every allocation is charged to its task's cgroup.""",
     ["0001"],
     ["Kconfig", "Makefile", "include/linux/devmem_heap.h"] + [
         "devmem_heap/" + f for f in (
             "allocation.rs", "buffer.rs", "capi.h", "capi.rs", "chunk_cache.rs", "clearing.rs",
             "counters.rs", "debugfs.rs", "devmem_heap.rs", "exports.c", "fault.rs", "heap.rs",
             "layout.rs", "memory.rs", "p2p.rs", "ratelimit.rs", "region.rs", "registration.rs",
             "registry.rs", "revoke.rs")],
     ["DEVMEM_HEAP"]),
    ("dma-buf: heaps: devmem: add a driver for QEMU's ivshmem device",
     """Publish BAR2 of QEMU's ivshmem-plain device, its shared memory, as a
devmem-heap region: "ivshmem" for the first device (the
devmem_heap.ivshmem_name parameter), then ivshmem1, ivshmem2, ... A
device keeps its name across unbind and bind. Its memory is a file on
the host, so what a guest writes into its buffers can be checked there.
The demo program scans a test image out from such a buffer with vkms.""",
     [], ["vkms_demo/ivshmem.rs", "vkms_demo/devmem_vkms_demo.c"], ["DEVMEM_HEAP_IVSHMEM"]),
    ("dma-buf: heaps: devmem: add GEM objects on region buffers",
     """Let DRM drivers, C or Rust, place GEM objects in a devmem-heap region
(include/drm/drm_devmem.h): drm_devmem_gem_create() in the kernel,
drm_devmem_dumb_create() as a dumb_create on a named region, and
drm_devmem_prime_import() to import a region's dma-buf as the device's
object for it. PRIME export returns the region's dma-buf; each buffer has
one object per device.""",
     [], ["drm_glue/capi.h", "drm_glue/capi.rs", "drm_glue/exports.c", "drm_glue/gem.rs",
          "include/drm/drm_devmem.h"],
     ["DEVMEM_HEAP_DRM"]),
    (None, None, ["0015"], [], []),
    (None, None, ["0016"], [], []),
    (None, None, ["0017"], [], []),
    (None, None, ["0021"], [], []),
    (None, None, ["0018"], [], []),
    ("dma-buf: heaps: devmem: add KUnit tests and test importers",
     """Add the KUnit suites of the framework (Rust, on regions of system
memory behind a faux device), of its C face and of the DRM glue, a test
heap of the dma_heap abstraction, the harness's own failing cases, and
two test importers: vmap_check in debugfs, an in-kernel importer that
vmaps buffers and holds mappings across a revocation, and edu_p2p, which
drives QEMU's edu device as a dynamic peer-to-peer importer DMAing
through the tables it is given.""",
     [], ["devmem_heap/vmap_check.rs", "kunit/devmem_drm_test.c", "kunit/devmem_harness_selftest.c",
          "kunit/devmem_heap_capi_test.c", "kunit/devmem_heap_test.rs",
          "kunit/rust_dma_heap_test.rs", "vkms_demo/edu_p2p.rs", "vkms_demo/edu_p2p/engine.rs",
          "vkms_demo/edu_p2p/import.rs", "vkms_demo/edu_p2p/uapi.rs",
          "vkms_demo/edu_p2p_uapi.h"],
     ["DEVMEM_HEAP_KUNIT_TEST", "DEVMEM_HEAP_DRM_KUNIT_TEST", "DEVMEM_HEAP_VMAP_CHECK",
      "DEVMEM_HEAP_EDU_P2P", "DEVMEM_HEAP_HARNESS_SELFTEST", "DEVMEM_HEAP_RUST_TEST_HEAP"]),
    ("Documentation: dma-buf: document devmem-heap",
     """Document devmem-heap for driver authors and importers
(driver-api/dma-buf-devmem.rst: registering a region from probe in Rust
and C, in-kernel allocation, what each importer gets, revocation, dmem
accounting, the lock order, the C face's kernel-doc) and for user space
(userspace-api/dma-buf-devmem.rst: heap names, every errno, debugfs, the
cgroup interface), and link the pages from the dma-buf ones.""",
     ["0026"], ["Documentation/driver-api/dma-buf-devmem.rst",
                "Documentation/userspace-api/dma-buf-devmem.rst"], []),
    (None, None, ["0027"], [], []),
]


def tree_path(rel):
    """The tree path of the repo file rel, as the overlay places it."""
    top = rel.split("/", 1)[0]
    if rel in ("Kconfig", "Makefile") or top in ("devmem_heap", "drm_glue", "vkms_demo", "kunit"):
        return f"{COMPONENT}/{rel}"
    return rel


def run(cmd, cwd, check=True, **kw):
    r = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True, **kw)
    if check and r.returncode:
        sys.exit(f"series: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r


def patch_file(repo, number):
    names = [n for n in os.listdir(os.path.join(repo, "patches")) if n.startswith(number + "-")]
    if len(names) != 1:
        sys.exit(f"series: no single patches/{number}-*.patch")
    return os.path.join(repo, "patches", names[0])


def patch_header(path):
    """Subject and message of a patches/ file."""
    with open(path) as f:
        head = f.read().split("\n---\n", 1)[0]
    subject = re.search(r"^Subject: \[PATCH\] (.*)$", head, re.M).group(1)
    body = head.split("\n\n", 1)[1] if "\n\n" in head else ""
    body = "\n".join(l for l in body.strip().splitlines() if not l.startswith("Signed-off-by:"))
    return subject, body.strip()


def patch_targets(path):
    with open(path) as f:
        return [l[6:].split("\t")[0].strip() for l in f if l.startswith("+++ b/")]


def kconfig_blocks(path):
    """The Kconfig file split into its head and its entries by option."""
    with open(path) as f:
        text = f.read()
    parts = re.split(r"(?m)^(?=config )", text)
    head, blocks = parts[0], {}
    for part in parts[1:]:
        blocks[part.split()[1]] = part
    return head, blocks


def kconfig_for(repo, options):
    head, blocks = kconfig_blocks(os.path.join(repo, "Kconfig"))
    unknown = set(options) - set(blocks)
    if unknown:
        sys.exit(f"series: Kconfig has no {sorted(unknown)}")
    text = head + "".join(b for name, b in blocks.items() if name in options)
    return text.rstrip("\n") + "\n"


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    repo, ktree, state, out = (os.path.abspath(a) for a in sys.argv[1:])
    orig = os.path.join(state, "orig")

    # What the series touches, and the overlay's list of what it owns.
    touched, all_new = set(), []
    for _, _, patches, files, _ in SERIES:
        for p in patches:
            touched.update(patch_targets(patch_file(repo, p)))
        all_new += files
    touched.update(tree_path(f) for f in all_new)
    overlaid = set()
    for root, _, files in os.walk(orig):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), orig)
            overlaid.add(rel[: -len(".absent")] if rel.endswith(".absent") else rel)
    missing = sorted(overlaid - touched)
    if missing:
        sys.exit("series: files the overlay owns but no patch of the series holds:\n  " +
                 "\n  ".join(missing))
    kconfigs = [o for _, _, _, _, opts in SERIES for o in opts]
    _, blocks = kconfig_blocks(os.path.join(repo, "Kconfig"))
    if sorted(kconfigs) != sorted(blocks):
        sys.exit(f"series: Kconfig options {sorted(blocks)} vs the series' {sorted(kconfigs)}")

    # The pristine base: the files the series touches, as 7.3.4 has them.
    shutil.rmtree(out, ignore_errors=True)
    work = os.path.join(out, "work")
    os.makedirs(work)

    def seed(dest):
        run(["git", "init", "-q", dest], out)
        for rel in sorted(touched):
            src = os.path.join(orig, rel)
            if os.path.exists(src):
                os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
                shutil.copy2(src, os.path.join(dest, rel))
            elif not os.path.exists(src + ".absent"):
                sys.exit(f"series: no pristine copy of {rel}")
        git = ["git", "-c", "user.name=devmem-heap", "-c", "user.email=devmem-heap@localhost"]
        run(git + ["add", "-A"], dest)
        run(git + ["commit", "-q", "-m", "Linux 7.3.4: the files the series touches"], dest)
        return git

    git = seed(work)
    base = run(["git", "rev-parse", "HEAD"], work).stdout.strip()
    options = []
    for subject, message, patches, files, opts in SERIES:
        for p in patches:
            run(["git", "apply", "--whitespace=nowarn", patch_file(repo, p)], work)
        for rel in files:
            dest = os.path.join(work, tree_path(rel))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(repo, rel), dest)
        options += opts
        if options:
            with open(os.path.join(work, COMPONENT, "Kconfig"), "w") as f:
                f.write(kconfig_for(repo, options))
        if subject is None:
            subject, message = patch_header(patch_file(repo, patches[0]))
        run(git + ["add", "-A"], work)
        run(git + ["commit", "-q", "--author", AUTHOR, "-m",
                   f"{subject}\n\n{message}\n\n{SIGNOFF}"], work)

    # The series, with a cover letter.
    series = os.path.join(out, "series")
    run(["git", "format-patch", "-q", "--cover-letter", "--no-signature", "-o", series,
         f"{base}..HEAD"], work)
    names = sorted(os.listdir(series))
    with open(os.path.join(repo, "scripts", "series-cover.txt")) as f:
        cover_subject, cover_body = f.read().split("\n\n", 1)
    cover = os.path.join(series, names[0])
    with open(cover) as f:
        text = f.read()
    text = text.replace("*** SUBJECT HERE ***", cover_subject.strip())
    text = text.replace("*** BLURB HERE ***", cover_body.strip())
    with open(cover, "w") as f:
        f.write(text)

    # It applies onto the pristine base and gives the overlaid tree.
    check = os.path.join(out, "applied")
    seed(check)
    r = run(git + ["am", "-q", "--whitespace=error"] +
            [os.path.join(series, n) for n in names[1:]], check, check=False)
    if r.returncode:
        sys.exit(f"series: git am failed:\n{r.stdout}{r.stderr}")
    differ = []
    for rel in sorted(touched):
        a, b = os.path.join(check, rel), os.path.join(ktree, rel)
        with open(a, "rb") as fa, open(b, "rb") as fb:
            if fa.read() != fb.read():
                differ.append(rel)
    if differ:
        sys.exit("series: after git am these differ from the overlaid tree:\n  " +
                 "\n  ".join(differ))

    bad = []
    for n in names[1:]:
        r = run([os.path.join(ktree, "scripts", "checkpatch.pl"), "--strict", "--quiet",
                 "--no-tree", "--ignore", "FILE_PATH_CHANGES", os.path.join(series, n)], "/",
                check=False)
        if r.returncode:
            bad.append(f"{n}:\n{r.stdout}{r.stderr}")
    if bad:
        sys.exit("series: checkpatch:\n" + "\n".join(bad))

    for n in names:
        with open(os.path.join(series, n)) as f:
            msg = email.message_from_file(f)
        subject = " ".join(msg["Subject"].split())
        stat = re.search(r"(\d+) files? changed(?:, (\d+) insertions?\(\+\))?"
                         r"(?:, (\d+) deletions?\(-\))?", msg.get_payload())
        added, removed = (int(stat.group(i) or 0) for i in (2, 3)) if stat else (0, 0)
        print(f"{n[:4]} +{added:<5} -{removed:<4} {subject}")
    print(f"series: {len(names) - 1} patches and a cover letter in {series}; "
          f"git am onto 7.3.4 gives the overlaid tree; checkpatch clean")


if __name__ == "__main__":
    main()
