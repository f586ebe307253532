#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make docs: the component's documentation, built with the kernel's own
# tools, every warning an error:
#   - kernel-doc -Wall on the C face (scripts/lint.sh, which make check runs);
#   - rustdoc of the kernel crate, with kernel::dma_buf, kernel::dma_heap and
#     kernel::cgroup::dmem (make rustdoc), and of the devmem_heap crate
#     (scripts/rustdoc-crate.py), both run by every kernel build;
#   - Sphinx, with the kernel's conf.py and extensions (kernel-doc
#     directives included), on the devmem-heap pages of Documentation/,
#     into runs/docs/html.
# Installs Sphinx the first time (scripts/bootstrap.sh docs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$DEVMEM_TOP/scripts/bootstrap.sh" docs
ksrc=$("$DEVMEM_TOP/scripts/ksrc.sh")
# Overlays the pages onto the tree, and runs both rustdocs.
build=$("$DEVMEM_TOP/scripts/kernel.sh")
"$DEVMEM_TOP/scripts/lint.sh" "$ksrc"

out=$DEVMEM_CACHE/runs/docs
rm -rf "$out"
# The pages, with an index of their own, in a Documentation/ beside a
# MAINTAINERS: the kernel's extensions look for both.
src=$out/Documentation
pages=(driver-api/dma-buf-devmem userspace-api/dma-buf-devmem)
for p in "${pages[@]}"; do
	install -D -m 0644 "$ksrc/Documentation/$p.rst" "$src/$p.rst"
done
ln -s "$ksrc/MAINTAINERS" "$out/MAINTAINERS"
{
	echo "========================="
	echo "devmem-heap documentation"
	echo "========================="
	echo
	echo ".. toctree::"
	echo "   :maxdepth: 2"
	echo
	printf '   %s\n' "${pages[@]}"
} >"$src/index.rst"

step "Sphinx on ${pages[*]}"
# From Documentation/, as the kernel's build runs it: conf.py finds its
# extensions there and kernel-doc the sources one level up.
(cd "$ksrc/Documentation" &&
	srctree=$ksrc sphinx-build -W --keep-going -q -b html -c . \
		-d "$out/doctrees" "$src" "$out/html") >"$out/sphinx.log" 2>&1 || {
	cat "$out/sphinx.log" >&2
	die "Sphinx warned (log: $out/sphinx.log)"
}
done_step
rd=$build/Documentation/output/rust
echo "== docs: $out/html/index.html; rustdoc: $rd/rustdoc/kernel/index.html, $rd/devmem_heap/devmem_heap/index.html =="
