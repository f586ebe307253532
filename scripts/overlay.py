#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Overlay the devmem-heap project onto a Linux kernel tree.

What lands where:
  Kconfig, Makefile, devmem_heap/, drm_glue/, vkms_demo/, kunit/
                        -> drivers/dma-buf/devmem/...
  rust/...              -> rust/...    (new files only; edits go in patches/)
  include/...           -> include/...
  Documentation/...     -> Documentation/...  (new files only)
  patches/*.patch       -> applied in name order onto the pristine files

The tree is only ever written where content differs, so kbuild rebuilds
exactly what an edit touches. Every file the overlay owns is listed in a
manifest kept in the cache; the pristine content (or its absence) is saved
before the first write, so a file removed from the project is restored or
deleted in the tree on the next run, and patches always apply to pristine
files. Prints the tree paths that changed, one per line.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

COMPONENT_DIR = "drivers/dma-buf/devmem"
COMPONENT_FILES = ["Kconfig", "Makefile"]
COMPONENT_DIRS = ["devmem_heap", "drm_glue", "vkms_demo", "kunit"]
TREE_DIRS = ["rust", "include", "Documentation"]
SKIP_SUFFIXES = (".o", ".ko", ".cmd", ".mod", ".mod.c", ".a", "~", ".orig", ".rej")


def fail(msg):
    sys.stderr.write(f"devmem-heap: overlay: error: {msg}\n")
    sys.exit(1)


def repo_files(top, sub):
    base = os.path.join(top, sub)
    if not os.path.isdir(base):
        return
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name.endswith(SKIP_SUFFIXES):
                continue
            path = os.path.join(root, name)
            yield os.path.relpath(path, top), path


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_if_changed(path, data, mode=None):
    """Write data to path unless it already holds it. Returns True on write."""
    if read(path) == data:
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".devmem-tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def patch_targets(patch):
    """Tree paths a unified diff touches (its "+++ b/..." lines)."""
    out = []
    with open(patch, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("+++ "):
                p = line[4:].split("\t")[0].strip()
                if p == "/dev/null":
                    continue
                out.append(p.split("/", 1)[1] if "/" in p else p)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--state", required=True, help="directory for manifest and pristine copies")
    args = ap.parse_args()

    repo, tree, state = (os.path.abspath(p) for p in (args.repo, args.tree, args.state))
    orig_dir = os.path.join(state, "orig")
    manifest_path = os.path.join(state, "manifest.json")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        manifest = {}

    def pristine(rel):
        """Pristine content of a tree path: the saved copy if we own it."""
        if rel in manifest:
            if os.path.exists(os.path.join(orig_dir, rel + ".absent")):
                return None
            return read(os.path.join(orig_dir, rel))
        return read(os.path.join(tree, rel))

    desired = {}  # tree path -> (content, mode)

    def want(rel, data, mode, origin):
        if rel in desired:
            fail(f"{rel} is produced twice (second time by {origin})")
        desired[rel] = (data, mode)

    for name in COMPONENT_FILES:
        src = os.path.join(repo, name)
        if os.path.exists(src):
            want(f"{COMPONENT_DIR}/{name}", read(src), None, name)
    for sub in COMPONENT_DIRS:
        for rel, src in repo_files(repo, sub):
            want(f"{COMPONENT_DIR}/{rel}", read(src), None, rel)
    for sub in TREE_DIRS:
        for rel, src in repo_files(repo, sub):
            if rel not in manifest and os.path.exists(os.path.join(tree, rel)):
                fail(f"{rel} exists in the kernel tree: change it with a patch in patches/, not by replacing it")
            want(rel, read(src), os.stat(src).st_mode & 0o777, rel)

    patches = [p for _, p in repo_files(repo, "patches") if p.endswith(".patch")]
    patches.sort(key=os.path.basename)
    if patches:
        with tempfile.TemporaryDirectory(prefix="devmem-patch-") as tmp:
            touched = []
            for p in patches:
                for rel in patch_targets(p):
                    if rel not in touched:
                        touched.append(rel)
            for rel in touched:
                if rel in desired:
                    fail(f"{rel} is both overlaid and patched")
                data = pristine(rel)
                if data is not None:
                    dst = os.path.join(tmp, rel)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    with open(dst, "wb") as f:
                        f.write(data)
            for p in patches:
                r = subprocess.run(
                    ["patch", "-p1", "-s", "-f", "-F0", "--no-backup-if-mismatch", "-d", tmp, "-i", p],
                    capture_output=True, text=True)
                if r.returncode:
                    fail(f"{os.path.relpath(p, repo)} does not apply to the pristine tree:\n{r.stdout}{r.stderr}")
            for rel in touched:
                data = read(os.path.join(tmp, rel))
                if data is None:
                    fail(f"patches delete {rel}; deleting kernel files is not supported")
                want(rel, data, None, "patches/")

    changed = []
    os.makedirs(orig_dir, exist_ok=True)
    new_manifest = {}
    for rel, (data, mode) in sorted(desired.items()):
        dst = os.path.join(tree, rel)
        if rel not in manifest:
            cur = read(dst)
            saved = os.path.join(orig_dir, rel)
            os.makedirs(os.path.dirname(saved), exist_ok=True)
            if cur is None:
                open(saved + ".absent", "wb").close()
            else:
                with open(saved, "wb") as f:
                    f.write(cur)
        # Record ownership before touching the tree, so an interrupted run
        # still knows what to restore.
        manifest[rel] = hashlib.sha256(data).hexdigest()
        new_manifest[rel] = manifest[rel]
        with open(manifest_path + ".tmp", "w") as f:
            json.dump(manifest, f, indent=0, sort_keys=True)
        os.replace(manifest_path + ".tmp", manifest_path)
        if write_if_changed(dst, data, mode):
            changed.append(rel)

    for rel in sorted(set(manifest) - set(new_manifest)):
        dst = os.path.join(tree, rel)
        saved = os.path.join(orig_dir, rel)
        if os.path.exists(saved + ".absent"):
            if os.path.exists(dst):
                os.unlink(dst)
                changed.append(rel)
                # Drop directories the overlay created and left empty.
                d = os.path.dirname(dst)
                while d != tree and os.path.isdir(d) and not os.listdir(d):
                    os.rmdir(d)
                    d = os.path.dirname(d)
            os.unlink(saved + ".absent")
        else:
            if write_if_changed(dst, read(saved)):
                changed.append(rel)
            os.unlink(saved)

    with open(manifest_path + ".tmp", "w") as f:
        json.dump(new_manifest, f, indent=0, sort_keys=True)
    os.replace(manifest_path + ".tmp", manifest_path)
    for rel in changed:
        print(rel)


if __name__ == "__main__":
    main()
