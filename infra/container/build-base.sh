#!/usr/bin/env bash
# Build the Dockerfile's base image from Debian packages, for hosts that cannot pull from a
# container registry (air-gapped builders, CI sandboxes). It produces a Debian bookworm root
# filesystem with Python 3.11 and tags it under the name the Dockerfile's FROM lines use, so
# `docker build` / `podman build` then work offline from the registry.
#
# Usage: infra/container/build-base.sh [--engine podman|docker] [--tag NAME] [--mirror URL]
# Needs root (debootstrap), debootstrap and a container engine. Takes a few minutes.
set -euo pipefail

ENGINE="${CONTAINER_ENGINE:-}"
TAG="docker.io/library/python:3.11-slim-bookworm"
MIRROR="http://deb.debian.org/debian"
SUITE="bookworm"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --engine) ENGINE="$2"; shift 2 ;;
        --tag) TAG="$2"; shift 2 ;;
        --mirror) MIRROR="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build-base.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [ -z "$ENGINE" ]; then
    if command -v podman >/dev/null 2>&1; then ENGINE=podman
    elif command -v docker >/dev/null 2>&1; then ENGINE=docker
    else echo "build-base.sh: no podman or docker found" >&2; exit 1; fi
fi
command -v debootstrap >/dev/null 2>&1 || {
    echo "build-base.sh: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "build-base.sh: debootstrap needs root" >&2; exit 1; }

ROOTFS="$(mktemp -d "${TMPDIR:-/var/tmp}/stigmem-base.XXXXXX")"
trap 'rm -rf "$ROOTFS"' EXIT

echo "build-base.sh: debootstrap $SUITE into $ROOTFS" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >&2
# Like the official slim images: no package lists or caches in the layer.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
ln -sf python3 "$ROOTFS/usr/bin/python"

echo "build-base.sh: importing as $TAG" >&2
tar -C "$ROOTFS" --numeric-owner -c . | "$ENGINE" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$TAG" >&2
echo "$TAG"
