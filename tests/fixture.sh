#!/usr/bin/env bash
# Build (once) and print the path of a cached test tree for berth's tests.
#
#   tests/fixture.sh busybox|bookworm|trixie|vm
#
# `vm` is not a tree but a bootable VM for tests/vm.rs: a directory holding
# rootfs.raw (ext4, Debian trixie with systemd as PID 1 and machined, the
# bookworm fixture at /var/lib/machines/deb), vmlinuz and initrd.img.
#
# The tree lives in /var/cache/berth-tests/NAME-<hash>/ where <hash> is the
# first 12 hex digits of the sha256 of the recipe: the fixture version below,
# the exact build command line and the text of the build function, so any
# change to a recipe gives a new cache entry. Builds run under an flock (so
# parallel callers wait for one build instead of racing), in a temporary
# directory next to the cache entry that is renamed into place at the end, so
# a cache entry either is complete or does not exist. Only the tree path goes
# to stdout; progress goes to stderr.
#
# The cached trees are shared and must stay as built: tests copy them before
# running anything writable in them. A manifest (every path with its type,
# mode and owner, and for non-directories size, mtime and link target) is
# written next to the tree; a tree that no longer matches it is thrown away
# and rebuilt, so a test that wrote into the cache cannot change later runs.
#
# Environment: BERTH_TEST_CACHE (default /var/cache/berth-tests),
# BERTH_TEST_MIRROR (default: the host's Debian mirror from
# /etc/apt/sources.list{,.d}, else http://deb.debian.org/debian).
set -euo pipefail

FIXTURE_VERSION="berth-fixture-v2"
CACHE="${BERTH_TEST_CACHE:-/var/cache/berth-tests}"

die() { echo "fixture.sh: $*" >&2; exit 1; }
log() { echo "fixture.sh: $*" >&2; }

[ $# -eq 1 ] || die "usage: $0 busybox|bookworm|trixie|vm"
NAME="$1"
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chown need it)"

# The first enabled Debian mirror of the host (one-line and deb822 formats).
host_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        while read -r uri; do
            printf '%s\n' "$uri"; return 0
        done < <(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break } }' "$f" \
                 | grep -E '^https?://[^ ]*/debian/?$' || true)
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        while read -r uri; do
            printf '%s\n' "$uri"; return 0
        done < <(awk 'tolower($1)=="uris:" { for (i=2;i<=NF;i++) print $i }' "$f" \
                 | grep -E '^https?://[^ ]*/debian/?$' || true)
    done
    echo "http://deb.debian.org/debian"
}

ensure_pkg() { # ensure_pkg COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 \
        || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; }
}

# ---- recipes: build_NAME DIR ------------------------------------------------

build_busybox() {
    local dir="$1" bb=/bin/busybox p
    # Debian's busybox-static installs /bin/busybox (merged /usr: same file).
    [ -x "$bb" ] && "$bb" --list-full >/dev/null 2>&1 || die "busybox-static missing"
    mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,home/tester,var/tmp}
    chmod 1777 "$dir/tmp" "$dir/var/tmp"
    chmod 0700 "$dir/root"
    cp "$bb" "$dir/bin/busybox"
    chmod 0755 "$dir/bin/busybox"
    # One absolute symlink per applet, at busybox's own idea of its path.
    while read -r p; do
        [ "$p" = "bin/busybox" ] && continue
        mkdir -p "$dir/$(dirname "$p")"
        ln -sf /bin/busybox "$dir/$p"
    done < <("$bb" --list-full)
    for p in sh sleep cat ls echo true false kill mount id hostname ps; do
        [ -L "$dir/bin/$p" ] || [ -L "$dir/usr/bin/$p" ] || die "busybox lacks applet $p"
    done
    ln -sf /bin/busybox "$dir/sbin/init"
    cat > "$dir/etc/os-release" <<'OSR'
NAME="BusyBox test tree"
ID=busybox
PRETTY_NAME="BusyBox test tree for berth"
VERSION_ID=1
OSR
    cat > "$dir/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:berth test user:/home/tester:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
    cat > "$dir/etc/group" <<'GR'
root:x:0:
tester:x:1000:
nogroup:x:65534:
GR
    chmod 0644 "$dir/etc/passwd" "$dir/etc/group" "$dir/etc/os-release"
    chown 1000:1000 "$dir/home/tester"
    chmod 0755 "$dir/home/tester"
    # A file that exists but is not executable, for the exit-126 test.
    printf '#!/bin/sh\necho never\n' > "$dir/bin/not-executable"
    chmod 0644 "$dir/bin/not-executable"
}

build_debian() { # build_debian SUITE DIR MIRROR
    local suite="$1" dir="$2" mirror="$3"
    debootstrap --variant=minbase --include=systemd,dbus "$suite" "$dir" "$mirror" >&2
    # debootstrap copies the host's /etc/hostname into the tree; a booted
    # systemd would then rename every guest after the build host. Without the
    # file systemd keeps the hostname the container manager set (the machine
    # name), which is what the tests expect.
    rm -f "$dir/etc/hostname"
    # Nothing is masked: a minbase tree with systemd and dbus boots to
    # "running" with no failed units under systemd-nspawn here (checked with
    # systemd-nspawn --keep-unit --register=no -b), so a failed unit under
    # berth points at berth. Only mask a unit here if it fails for reasons
    # unrelated to berth, and say why.
    rm -f "$dir"/var/cache/apt/archives/*.deb
}

# The VM of the real-systemd-host tier (tests/vm.rs). Everything that changes
# between runs (the berth binary, its unit, the guest test script) comes in
# through the 9p share at boot, so only this recipe keys the cache.
build_vm() { # build_vm DIR MIRROR GUEST_TREE
    local dir="$1" mirror="$2" guest="$3" root kver mb
    root="$(dirname "$dir")/root"
    mkdir -p "$dir"
    # INITRD=No: the kernel's postinst skips its (big, MODULES=most) initramfs;
    # a small one is made below, once the VM's module list is in place.
    INITRD=No debootstrap --variant=minbase \
        --include=linux-image-amd64,initramfs-tools,zstd,kmod,udev,systemd,systemd-sysv,dbus,systemd-container \
        trixie "$root" "$mirror" >&2
    kver="$(basename "$(ls -d "$root"/usr/lib/modules/* | sort -V | tail -1)")"

    # Boot straight into /dev/vda: the initramfs only needs virtio and ext4.
    printf 'MODULES=list\nCOMPRESS=zstd\n' > "$root/etc/initramfs-tools/conf.d/berth-vm.conf"
    printf '%s\n' virtio_pci virtio_blk ext4 >> "$root/etc/initramfs-tools/modules"
    rm -f "$root"/boot/initrd.img-*
    chroot "$root" update-initramfs -c -k "$kver" >&2
    cp "$root/boot/vmlinuz-$kver" "$dir/vmlinuz"
    cp "$root/boot/initrd.img-$kver" "$dir/initrd.img"

    echo berth-vm > "$root/etc/hostname"
    # A fixed machine id: not a first boot, so systemd-firstboot never
    # prompts on the console (every run starts from the same image anyway).
    echo 5be27c1e0b0d4e0c9a6f2d3b7c8e9f10 > "$root/etc/machine-id"
    cat > "$root/etc/fstab" <<'FSTAB'
/dev/vda   /          ext4  rw,errors=remount-ro            0 0
berthhost  /mnt/host  9p    trans=virtio,version=9p2000.L   0 0
FSTAB
    mkdir -p "$root/mnt/host"
    printf '%s\n' 9p 9pnet_virtio > "$root/etc/modules-load.d/berth-vm.conf"
    mkdir -p "$root/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' > "$root/etc/systemd/journald.conf.d/berth-vm.conf"
    # The test run: after boot, run the script from the host's share; power
    # off when it ends, however it ends (RuntimeMaxSec bounds a hang; the host
    # has its own, longer timeout for a VM that never gets this far). Wants,
    # not Requires, the share: without it the script is missing, the unit
    # fails and the VM powers off at once instead of idling until the host
    # gives up.
    cat > "$root/etc/systemd/system/berth-vm-test.service" <<'UNIT'
[Unit]
Description=berth VM tier: run the host's guest-tests.sh, then power off
Wants=mnt-host.mount systemd-machined.service
After=mnt-host.mount dbus.service systemd-machined.service
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=exec
ExecStart=/bin/bash /mnt/host/guest-tests.sh
StandardOutput=journal+console
StandardError=journal+console
RuntimeMaxSec=600

[Install]
WantedBy=multi-user.target
UNIT
    ln -sf /etc/systemd/system/berth-vm-test.service "$root/etc/systemd/system/multi-user.target.wants/"

    # The container the tests boot inside the VM.
    mkdir -p "$root/var/lib/machines"
    cp -a "$guest" "$root/var/lib/machines/deb"

    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/boot/*
    # Room for what the tests write (journals, logs); the file is sparse.
    mb=$(( $(du -sm "$root" | cut -f1) + 1024 ))
    mkfs.ext4 -q -F -L berth-vm -d "$root" "$dir/rootfs.raw" "${mb}M" >&2
    remove_tree "$root"
}

# ---- the recipe for NAME ----------------------------------------------------

case "$NAME" in
    busybox)
        bbver="$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true)"
        if [ -z "$bbver" ]; then
            ensure_pkg busybox busybox-static
            bbver="$(dpkg-query -W -f='${Version}' busybox-static)"
        fi
        recipe=("build_busybox" "DIR" "busybox-static=$bbver")
        body="$(declare -f build_busybox)"
        ;;
    bookworm|trixie)
        ensure_pkg debootstrap debootstrap
        mirror="${BERTH_TEST_MIRROR:-$(host_mirror)}"
        recipe=("debootstrap" "--variant=minbase" "--include=systemd,dbus" "$NAME" "DIR" "$mirror")
        body="$(declare -f build_debian)"
        ;;
    vm)
        ensure_pkg debootstrap debootstrap
        ensure_pkg mkfs.ext4 e2fsprogs
        mirror="${BERTH_TEST_MIRROR:-$(host_mirror)}"
        # The bookworm fixture's path carries its own recipe hash.
        guest="$(bash "$0" bookworm)"
        recipe=("build_vm" "DIR" "$mirror" "$guest")
        body="$(declare -f build_vm)"
        ;;
    *) die "unknown fixture '$NAME' (want busybox, bookworm, trixie or vm)" ;;
esac

hash="$(printf '%s\n' "$FIXTURE_VERSION" "${recipe[*]}" "$body" | sha256sum | cut -c1-12)"
final="$CACHE/$NAME-$hash"

manifest() { # manifest TREE: a sorted listing that changes when the tree does
    (cd "$1" && find . -xdev \( -type d -printf '%p d %m %U %G\n' \) -o -printf '%p %y %m %U %G %s %T@ %l\n' \
        | LC_ALL=C sort)
}

intact() { [ -d "$final" ] && [ -f "$final.manifest" ] && manifest "$final" | cmp -s - "$final.manifest"; }

if intact; then echo "$final"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.$NAME-$hash.lock"
flock 9
if intact; then echo "$final"; exit 0; fi   # built while we waited

remove_tree() { # never rm -rf across mount points
    local t="$1" m
    for m in $(awk -v t="$t" 'index($5, t"/")==1 || $5==t { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$t"
}

if [ -d "$final" ]; then
    log "WARNING: $final was modified after it was built (tests must copy it, not write into it); rebuilding"
    manifest "$final" | diff "$final.manifest" - | head -20 >&2 || true
    stale="$(mktemp -d "$CACHE/.stale-$NAME-$hash.XXXXXX")"
    mv -T "$final" "$stale/tree"
    remove_tree "$stale"
fi

tmp="$(mktemp -d "$CACHE/.build-$NAME-$hash.XXXXXX")"
trap 'remove_tree "$tmp"' EXIT   # debootstrap mounts proc/sys inside the target

log "building $NAME into $final (recipe: ${recipe[*]})"
start=$SECONDS
case "$NAME" in
    busybox) build_busybox "$tmp/tree" ;;
    vm)      build_vm "$tmp/tree" "$mirror" "$guest" ;;
    *)       build_debian "$NAME" "$tmp/tree" "$mirror" ;;
esac
printf '%s\n' "$FIXTURE_VERSION" "${recipe[*]}" > "$CACHE/$NAME-$hash.recipe"
mv -T "$tmp/tree" "$final"
manifest "$final" > "$final.manifest.tmp"
mv "$final.manifest.tmp" "$final.manifest"
log "built $NAME in $((SECONDS - start)) s"
echo "$final"
