#!/usr/bin/env bash
# Builds the example's base image without Docker Hub: a Debian root file system made with debootstrap from
# Debian's own packages (python3, python3-numpy, python3-matplotlib), imported with `docker import`.
# The example's Dockerfile says `FROM python:3.11-slim`, as a user would write it; where that image cannot
# be pulled (as on machines without Docker Hub access) the example builds FROM this one instead.
#   usage: build-base.sh [IMAGE]     (default paperlink-example-base:bookworm; does nothing if it exists)
set -euo pipefail
IMAGE="${1:-paperlink-example-base:bookworm}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
command -v debootstrap >/dev/null || { echo "build-base: debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
# The mirror apt already uses: the only package source such a machine may reach.
MIRROR="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | grep -oE '^(URIs:|deb) +https?://[^ ]+' | grep -v security | head -n 1 | awk '{print $2}' || true)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$(mktemp -d -t paperlink-rootfs-XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
echo "build-base: debootstrap bookworm from $MIRROR (a few minutes, once)" >&2
debootstrap --variant=minbase --include=python3,python3-numpy,python3-matplotlib \
  bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log" >&2; exit 1; }
rm -f "$ROOTFS.log"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'ENV MPLBACKEND=Agg' --change 'CMD ["python3"]' \
  --message "Debian bookworm + python3-numpy + python3-matplotlib (debootstrap), for paperlink's example" \
  - "$IMAGE" >/dev/null
echo "build-base: built $IMAGE" >&2
