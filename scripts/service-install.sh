#!/usr/bin/env bash
# Install the bare-metal Stigmem node (this checkout's .venv) as a service that starts at boot
# or login and restarts after a failure:
#   Linux: a systemd unit (system-wide when run as root, else a user unit);
#   macOS: a LaunchAgent (~/Library/LaunchAgents/com.stigmem.node.plist).
#
# Usage: bash scripts/service-install.sh [options]
#   --data-dir DIR   where the database lives (default: <repo>/data, as `make run`)
#   --exec PATH      the server to run (default: <repo>/.venv/bin/stigmem-node; run `make` first)
#   --user|--system  Linux: a user unit or a system unit (default: --system as root, else --user)
#   --run-as USER    Linux system unit: the account it runs as (default: the checkout's owner)
#   --platform P     linux or macos (default: this machine's)
#   --dry-run        print what would be done and the rendered file; change nothing
# STIGMEM_* variables set when running this script are written into the service definition;
# a Linux unit also reads the optional environment file named in its EnvironmentFile= line.
# Remove with: bash scripts/service-uninstall.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
root="${STIGMEM_SERVICE_ROOT:-}"        # prefix for system paths (packaging and tests)
systemctl_cmd="${SYSTEMCTL:-systemctl}"
launchctl_cmd="${LAUNCHCTL:-launchctl}"
data_dir="$repo/data"
exec_path="$repo/.venv/bin/stigmem-node"
mode=""
run_as=""
platform=""
dry_run=0

die() { echo "service-install.sh: $*" >&2; exit 2; }
usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --data-dir) [ $# -ge 2 ] || die "--data-dir needs a value"; data_dir="$2"; shift 2 ;;
        --exec) [ $# -ge 2 ] || die "--exec needs a value"; exec_path="$2"; shift 2 ;;
        --user) mode=user; shift ;;
        --system) mode=system; shift ;;
        --run-as) [ $# -ge 2 ] || die "--run-as needs a value"; run_as="$2"; shift 2 ;;
        --platform) [ $# -ge 2 ] || die "--platform needs a value"; platform="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# shellcheck source=scripts/service-common.sh
. "$here/service-common.sh"
platform="$(detect_platform "$platform")"
case "$data_dir" in /*) ;; *) data_dir="$(pwd)/$data_dir" ;; esac
[ -x "$exec_path" ] || die "$exec_path is not an executable; run 'make' (or pass --exec)"

render() {  # template, environment block, escape function -> stdout
    local env_block="$2" esc="$3"
    sed -e "s|@REPO@|$(sed_escape "$("$esc" "$repo")")|g" \
        -e "s|@EXEC@|$(sed_escape "$("$esc" "$exec_path")")|g" \
        -e "s|@DATA_DIR@|$(sed_escape "$("$esc" "$data_dir")")|g" \
        -e "s|@ENV_FILE@|$(sed_escape "$("$esc" "${env_file:-}")")|g" \
        -e "s|@RUN_AS@|$(sed_escape "${run_as:-}")|g" \
        -e "s|@WANTED_BY@|${wanted_by:-}|g" \
        -e "s|@LOG_FILE@|$(sed_escape "$("$esc" "${log_file:-}")")|g" \
        "$1" | awk -v block="$env_block" '$0 == "@ENVIRONMENT@" { if (block != "") print block; next } { print }'
}

for path in "$repo" "$data_dir" "$exec_path"; do
    case "$path" in *'"'*|*\\*|*$'\n'*) die "unsupported character in path: $path" ;; esac
done

install_linux() {
    [ -n "$mode" ] || { if [ "$(id -u)" = 0 ]; then mode=system; else mode=user; fi; }
    if [ "$mode" = system ]; then
        unit_dir="$root/etc/systemd/system"
        env_file="/etc/stigmem/stigmem.env"
        wanted_by="multi-user.target"
        [ -n "$run_as" ] || run_as="$(owner_of "$repo")"
        [ "$run_as" != root ] || die "refusing to run the node as root; pass --run-as USER"
        ctl=("$systemctl_cmd")
    else
        unit_dir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
        env_file="${XDG_CONFIG_HOME:-$HOME/.config}/stigmem/stigmem.env"
        wanted_by="default.target"
        ctl=("$systemctl_cmd" --user)
    fi
    unit="$unit_dir/$UNIT_NAME"
    content="$(render "$here/stigmem-node.service" "$(systemd_environment)" systemd_escape)"
    if [ "$mode" = user ]; then
        content="$(printf '%s\n' "$content" | sed '/^# BEGIN system-only$/,/^# END system-only$/d')"
    fi
    act mkdir -p "$unit_dir" "$data_dir"
    write_file "$unit" 0644 "$content"
    act "${ctl[@]}" daemon-reload
    act "${ctl[@]}" enable --now "$UNIT_NAME"
    echo "installed $unit (data: $data_dir; settings: $env_file)"
    echo "status: ${ctl[*]} status $UNIT_NAME; logs: journalctl${ctl[1]:+ ${ctl[1]}} -u $UNIT_NAME"
}

install_macos() {
    agent_dir="$HOME/Library/LaunchAgents"
    plist="$agent_dir/$PLIST_NAME"
    log_file="$HOME/Library/Logs/stigmem-node.log"
    content="$(render "$here/$PLIST_NAME" "$(plist_environment)" xml_escape)"
    act mkdir -p "$agent_dir" "$HOME/Library/Logs" "$data_dir"
    write_file "$plist" 0644 "$content"
    act "$launchctl_cmd" bootstrap "gui/$(id -u)" "$plist"
    echo "installed $plist (data: $data_dir; log: $log_file)"
    echo "status: launchctl print gui/$(id -u)/$LABEL"
}

case "$platform" in
    linux) install_linux ;;
    macos) install_macos ;;
esac
