#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite, on 127.0.0.1 only.
#
#   scripts/postgres-test-server.sh [start]   install if missing, init once, start; print URL
#   scripts/postgres-test-server.sh url       print the URL of the running server
#   scripts/postgres-test-server.sh stop      stop it (the data stays for the next start)
#   scripts/postgres-test-server.sh destroy   stop it and delete its directory
#
# Idempotent: a running server is left alone. The cluster lives in $STIGMEM_PG_DIR (default
# .pg/ at the repository root, git-ignored), trusts only loopback connections, and is tuned for
# tests (no fsync): never put data you care about in it. Run as root, the server runs as the
# `postgres` user (PostgreSQL refuses to run as root). The last line printed on start is the
# URL, e.g. `export STIGMEM_TEST_DATABASE_URL=$(scripts/postgres-test-server.sh | tail -1)`;
# it is also written to $STIGMEM_PG_DIR/url (.pg/url), where the test suite finds it by itself.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${STIGMEM_PG_DIR:-$ROOT/.pg}"
URL_FILE="$DIR/url"
USER_NAME=stigmem
# As root the server runs as `postgres`, which must reach its data directory: a checkout
# under a private home (e.g. /root) keeps the cluster in /tmp instead (the URL stays here).
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 &&
    ! runuser -u postgres -- test -x "$(dirname "$DIR")" 2>/dev/null; then
    DIR="/tmp/stigmem-pg-$(echo "$ROOT" | sha1sum | cut -c1-12)"
fi
DATA="$DIR/data"

log() { echo "postgres-test-server: $*" >&2; }

find_bin() {
    local found
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$found" ] && [ -x "$found/pg_ctl" ] && echo "$found"
}

install_postgres() {
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL is not installed; run as root, or: sudo apt-get install -y postgresql"
        exit 1
    fi
    log "installing PostgreSQL from the distribution's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
}

# Run a command as the server's owner: ourselves, or `postgres` when we are root.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url() { echo "postgresql://$USER_NAME@127.0.0.1:$(cat "$DIR/port")/postgres"; }

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

init_cluster() {
    log "creating a cluster in $DATA"
    mkdir -p "$DIR"
    free_port >"$DIR/port"
    mkdir -p "$DATA" "$DIR/run"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$DATA" "$DIR/run"
    fi
    chmod 700 "$DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U "$USER_NAME" --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        exit 1
    }
    cat >>"$DATA/postgresql.conf" <<EOF
# --- stigmem test server (throwaway: durability off) ---
listen_addresses = '127.0.0.1'
port = $(cat "$DIR/port")
unix_socket_directories = '$DIR/run'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 128MB
log_min_messages = warning
EOF
    # Loopback only, no password: nothing else can reach this server.
    cat >"$DATA/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
}

start() {
    [ -f "$DATA/PG_VERSION" ] || init_cluster
    if ! running; then
        log "starting on 127.0.0.1:$(cat "$DIR/port")"
        as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/run/server.log" -w -t 60 start >&2 || {
            tail -20 "$DIR/run/server.log" >&2 || true
            exit 1
        }
    fi
    mkdir -p "$(dirname "$URL_FILE")"
    url >"$URL_FILE"
    url
}

BIN="$(find_bin || true)"
case "${1:-start}" in
start)
    if [ -z "$BIN" ]; then
        install_postgres
        BIN="$(find_bin)"
    fi
    start
    ;;
url)
    [ -n "$BIN" ] && running || { log "not running"; exit 1; }
    url
    ;;
stop)
    [ -n "$BIN" ] && running && as_owner "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2
    rm -f "$URL_FILE"
    ;;
destroy)
    [ -n "$BIN" ] && running && as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate stop >&2
    rm -rf "$DIR"
    rm -f "$URL_FILE"
    ;;
*)
    log "usage: $0 [start|url|stop|destroy]"
    exit 2
    ;;
esac
