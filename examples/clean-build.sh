#!/usr/bin/env bash
# The clean-build workflow: build a small Debian source package in a
# pristine, throw-away copy of a bookworm tree.
#   1. once, writable: install the build tools into the tree;
#   2. every build: `berth run -x` with the source bound in through :idmap,
#      so the guest's root owns it inside and its real owner keeps it on
#      disk; only the bound directory is written, and berth exits with the
#      build's status.
# Usage: examples/clean-build.sh [TREE]   (default /var/lib/machines/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
berth=target/x86_64-unknown-linux-gnu/release/berth
[ -x "$berth" ] || cargo build --release
tree="${1:-/var/lib/machines/debian}"
[ -e "$tree/etc/os-release" ] || { echo "no tree at $tree; run scripts/boot-default first" >&2; exit 1; }

# 1. Build tools, installed once (the guest shares the host's network).
if [ ! -x "$tree/usr/bin/dpkg-buildpackage" ] || [ ! -x "$tree/usr/bin/dh" ]; then
    "$berth" run -q -P -D "$tree" -- sh -c \
        'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends build-essential debhelper'
fi

# A tiny native package.
work="$(mktemp -d /var/tmp/berth-build.XXXXXX)"
src="$work/hello-berth"
mkdir -p "$src/debian/source"
cat > "$src/hello-berth" <<'SH'
#!/bin/sh
echo "hello from a clean berth build"
SH
cat > "$src/Makefile" <<'MK'
install:
	install -D -m 0755 hello-berth $(DESTDIR)/usr/bin/hello-berth
MK
echo "3.0 (native)" > "$src/debian/source/format"
cat > "$src/debian/control" <<'CTL'
Source: hello-berth
Section: misc
Priority: optional
Maintainer: berth <berth@example.invalid>
Build-Depends: debhelper-compat (= 13)
Standards-Version: 4.6.2

Package: hello-berth
Architecture: all
Depends: ${misc:Depends}
Description: greeting built in a throw-away berth machine
 A tiny package for berth's clean-build example.
CTL
cat > "$src/debian/changelog" <<'CL'
hello-berth (1.0) unstable; urgency=medium

  * Initial release.

 -- berth <berth@example.invalid>  Sun, 22 Nov 2026 12:00:00 +0000
CL
printf '#!/usr/bin/make -f\n%%:\n\tdh $@\n' > "$src/debian/rules"
chmod +x "$src/debian/rules"

# 2. The build, in a pristine ephemeral copy of the tree.
"$berth" run -q -P -x -D "$tree" --bind "$work:/build:idmap" --chdir /build/hello-berth -- \
    dpkg-buildpackage -us -uc -b
ls -l "$work"/*.deb
echo "built in $work" >&2
