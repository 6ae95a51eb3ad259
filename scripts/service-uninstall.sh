#!/usr/bin/env bash
# Stop and remove the Stigmem node service installed by scripts/service-install.sh:
#   Linux: the systemd unit (the system unit when run as root, else the user unit);
#   macOS: the LaunchAgent com.stigmem.node.
# The database and its directory are kept.
#
# Usage: bash scripts/service-uninstall.sh [--user|--system] [--platform linux|macos] [--dry-run]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${STIGMEM_SERVICE_ROOT:-}"
systemctl_cmd="${SYSTEMCTL:-systemctl}"
launchctl_cmd="${LAUNCHCTL:-launchctl}"
mode=""
platform=""
dry_run=0

die() { echo "service-uninstall.sh: $*" >&2; exit 2; }
usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --user) mode=user; shift ;;
        --system) mode=system; shift ;;
        --platform) [ $# -ge 2 ] || die "--platform needs a value"; platform="$2"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# shellcheck source=scripts/service-common.sh
. "$here/service-common.sh"
platform="$(detect_platform "$platform")"

uninstall_linux() {
    [ -n "$mode" ] || { if [ "$(id -u)" = 0 ]; then mode=system; else mode=user; fi; }
    if [ "$mode" = system ]; then
        unit="$root/etc/systemd/system/$UNIT_NAME"; ctl=("$systemctl_cmd")
    else
        unit="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/$UNIT_NAME"; ctl=("$systemctl_cmd" --user)
    fi
    if [ ! -e "$unit" ]; then
        echo "no $mode unit installed ($unit); nothing to do"
        return
    fi
    act_tolerant "${ctl[@]}" disable --now "$UNIT_NAME"
    act rm -f "$unit"
    act "${ctl[@]}" daemon-reload
    echo "removed $unit; the database was kept"
}

uninstall_macos() {
    plist="$HOME/Library/LaunchAgents/$PLIST_NAME"
    if [ ! -e "$plist" ]; then
        echo "no LaunchAgent installed ($plist); nothing to do"
        return
    fi
    act_tolerant "$launchctl_cmd" bootout "gui/$(id -u)/$LABEL"
    act rm -f "$plist"
    echo "removed $plist; the database was kept"
}

case "$platform" in
    linux) uninstall_linux ;;
    macos) uninstall_macos ;;
esac
