#!/bin/bash
# The root file system shared by the lab's locally built images, from Debian's
# own packages: Debian 12 (minbase) with a Java 17 runtime for Cassandra,
# Python 3 for cqlsh, and curl for the learner's workstation. Used where no registry image can be pulled; the result is
# tarred and handed to `docker import` by infra/images/build.ts.
#
#   base-rootfs.sh TARGET_DIR [MIRROR]
set -euo pipefail
target="$1"
mirror="${2:-http://deb.debian.org/debian}"
packages=openjdk-17-jre-headless,python3,ca-certificates,curl

command -v debootstrap >/dev/null || { echo "debootstrap is not installed: apt-get install debootstrap" >&2; exit 1; }
rm -rf "$target"
mkdir -p "$target"
debootstrap --variant=minbase --include="$packages" bookworm "$target" "$mirror"
# Leave out what an image does not need: package lists, docs, man pages, caches.
rm -rf "$target"/var/lib/apt/lists/* "$target"/var/cache/apt/*.bin "$target"/var/cache/apt/archives/*.deb \
  "$target"/usr/share/doc/* "$target"/usr/share/man/* "$target"/usr/share/locale/* "$target"/var/log/*.log
