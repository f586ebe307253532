#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Document a driver's Rust crate with the flags kbuild compiled it with.

make rustdoc documents only the crates under rust/. This takes the command
kbuild saved for a driver crate's object (its .o.cmd file, in the build
directory), keeps the language, target, configuration and lint flags, drops
what only the compiler and Clippy take, and runs rustdoc with it, private
items included, warnings (broken intra-doc links among them) denied. Links
from the crate's documentation to its private items are what it is for, so
that one lint is off.

Usage: rustdoc-crate.py BUILD_DIR OBJECT OUT_DIR
"""

import os
import shlex
import subprocess
import sys

# Options that take the next word as their value and that rustdoc lacks.
SKIP_WITH_VALUE = {"--out-dir"}
# Option prefixes that rustdoc lacks or that concern Clippy or the object.
SKIP_PREFIXES = ("--emit=", "--remap-path-prefix=", "--remap-path-scope=",
                 "-Zbinary_dep_depinfo", "-Wclippy::", "-Aclippy::", "-Dclippy::")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    build, obj, out = sys.argv[1:]
    head, name = os.path.split(obj)
    cmd_file = os.path.join(build, head, "." + name + ".cmd")
    with open(cmd_file) as f:
        saved = f.readline().split(" := ", 1)[1]
    # The compile command comes first; objtool follows it after a ";".
    words = shlex.split(saved.split(" ; ")[0])
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    while "=" in words[0] and words[0].split("=")[0].isupper():
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    compiler = words.pop(0)
    if compiler not in ("rustc", "clippy-driver"):
        sys.exit(f"rustdoc-crate: {cmd_file}: not a Rust compile command")
    args = []
    while words:
        word = words.pop(0)
        if word in SKIP_WITH_VALUE:
            words.pop(0)
        elif not word.startswith(SKIP_PREFIXES):
            args.append(word)
    args += ["--document-private-items", "-Arustdoc::private_intra_doc_links", "-o", out]
    sys.exit(subprocess.run(["rustdoc"] + args, cwd=build, env=env).returncode)


if __name__ == "__main__":
    main()
