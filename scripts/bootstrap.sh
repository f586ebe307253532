#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing devmem-heap needs, and nothing that is
# already there. Idempotent: a second run only checks. On a machine where it
# cannot install (not root, no sudo), it prints exactly what is missing.
# "bootstrap.sh docs" also installs what make docs needs (Sphinx).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Debian packages, by the command or file that proves each one is present.
pkgs=(
	"clang-19:/usr/bin/clang-19"
	"lld-19:/usr/bin/ld.lld-19"
	"llvm-19:/usr/bin/llvm-ar-19"
	"libclang-19-dev:/usr/lib/llvm-19/lib/libclang.so"
	"flex:/usr/bin/flex"
	"bison:/usr/bin/bison"
	"bc:/usr/bin/bc"
	"cpio:/usr/bin/cpio"
	"rsync:/usr/bin/rsync"
	"libelf-dev:/usr/include/libelf.h"
	"libssl-dev:/usr/include/openssl/ssl.h"
	"qemu-system-x86:/usr/bin/qemu-system-x86_64"
	"debootstrap:/usr/sbin/debootstrap"
	"busybox-static:/bin/busybox"
	"python3:/usr/bin/python3"
	"make:/usr/bin/make"
	"gcc:/usr/bin/gcc"
	"libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a"
	"xz-utils:/usr/bin/xz"
	"ca-certificates:/etc/ssl/certs/ca-certificates.crt"
	"gpgv:/usr/bin/gpgv"
	"patch:/usr/bin/patch"
	"git:/usr/bin/git"
)
# make docs: the kernel's Sphinx extensions need Sphinx and YAML, and its
# figures Graphviz.
if [ "${1:-}" = docs ]; then
	pkgs+=(
		"python3-sphinx:/usr/bin/sphinx-build"
		"graphviz:/usr/bin/dot"
		"python3-yaml:/usr/lib/python3/dist-packages/yaml/__init__.py"
	)
fi

missing=()
for p in "${pkgs[@]}"; do
	[ -e "${p#*:}" ] || missing+=("${p%%:*}")
done
# checkpatch.pl needs perl's full module set, not just perl-base.
perl -MTerm::ANSIColor -e 1 2>/dev/null || missing+=(perl)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo_cmd=(sudo -n)
	else
		sudo_cmd=(false)
	fi
fi

if [ ${#missing[@]} -gt 0 ]; then
	if [ "${sudo_cmd[*]}" = false ]; then
		die "missing Debian packages (run as root or with sudo to install): ${missing[*]}"
	fi
	step "installing Debian packages: ${missing[*]}"
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -q -y install --no-install-recommends "${missing[@]}" >/dev/null
	done_step
fi

# Rust: rustc and cargo from rustup, plus rust-src and bindgen-cli.
command -v rustup >/dev/null || die "rustup not found: install it from the Rust project's instructions, then re-run"
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
	step "installing the rust-src component"
	rustup component add rust-src >/dev/null
	done_step
fi
if ! command -v bindgen >/dev/null; then
	step "installing bindgen-cli with cargo"
	cargo install --locked --quiet bindgen-cli
	done_step
fi
for c in rustfmt clippy-driver; do
	if ! command -v "$c" >/dev/null; then
		step "installing the ${c%-driver} component"
		rustup component add "${c%-driver}" >/dev/null
		done_step
	fi
done
exit 0
