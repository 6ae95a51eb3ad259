#!/bin/sh
# The image's entrypoint: check that the node can write its data directory, then become the
# node (exec: it runs as PID 1 and receives SIGTERM itself).
#
# A volume filled by another container running as root (for example the operator guide's
# bare-metal -> Docker copy) is owned by root, and the node (uid 10001) could not open the
# database; say so, with the fix, instead of failing deep inside SQLite.
set -eu

db="${STIGMEM_DB_PATH:-/data/stigmem.db}"
dir="$(dirname "$db")"
if [ -d "$dir" ] && { [ ! -w "$dir" ] || { [ -e "$db" ] && [ ! -w "$db" ]; }; }; then
    uid="$(id -u)"
    gid="$(id -g)"
    echo "stigmem-node: $dir is not writable by uid $uid (it belongs to" \
         "$(stat -c %u:%g "$dir"))." >&2
    echo "stigmem-node: give the volume to the node, for example:" >&2
    echo "  docker run --rm -v <volume>:$dir busybox chown -R $uid:$gid $dir" >&2
    exit 78
fi
exec stigmem-node "$@"
