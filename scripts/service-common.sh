# shellcheck shell=bash
# Shared by service-install.sh and service-uninstall.sh (sourced, not run).
# Expects: dry_run (0/1). Defines the names below for the sourcing script.
# shellcheck disable=SC2034,SC2154

UNIT_NAME="stigmem-node.service"
LABEL="com.stigmem.node"
PLIST_NAME="$LABEL.plist"

detect_platform() {  # an explicit choice, or this machine's
    local chosen="$1"
    if [ -z "$chosen" ]; then
        case "$(uname -s)" in
            Linux) chosen=linux ;;
            Darwin) chosen=macos ;;
            *) echo "unsupported platform $(uname -s); pass --platform linux|macos" >&2; exit 2 ;;
        esac
    fi
    case "$chosen" in
        linux|macos) echo "$chosen" ;;
        *) echo "--platform must be linux or macos" >&2; exit 2 ;;
    esac
}

act() {  # run a command, or only print it with --dry-run
    if [ "$dry_run" = 1 ]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

act_tolerant() {  # the same, but a failure (e.g. not loaded) is only reported
    if [ "$dry_run" = 1 ]; then
        echo "would run: $*"
    elif ! "$@"; then
        echo "note: '$*' failed (already stopped?); continuing" >&2
    fi
}

write_file() {  # path mode content
    if [ "$dry_run" = 1 ]; then
        echo "would write $1 (mode $2):"
        printf '%s\n' "$3" | sed 's/^/    /'
        return
    fi
    local tmp
    tmp="$(mktemp "$1.XXXXXX")"
    printf '%s\n' "$3" > "$tmp"
    chmod "$2" "$tmp"
    mv -f "$tmp" "$1"
}

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

systemd_escape() { printf '%s' "${1//%/%%}"; }  # systemd expands %-specifiers

xml_escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }

owner_of() { stat -c %U "$1" 2>/dev/null || stat -f %Su "$1"; }

stigmem_vars() {  # the STIGMEM_* variables of this shell (never STIGMEM_DB_PATH: --data-dir)
    env | LC_ALL=C sort | grep -E '^STIGMEM_[A-Z0-9_]+=' | grep -v -E '^STIGMEM_(DB_PATH|SERVICE_ROOT)=' || true
}

systemd_environment() {  # Environment= lines (values quoted for systemd)
    local line name value
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        name="${line%%=*}"; value="${line#*=}"
        value="${value//\\/\\\\}"; value="${value//\"/\\\"}"; value="${value//%/%%}"
        printf 'Environment="%s=%s"\n' "$name" "$value"
    done < <(stigmem_vars)
}

plist_environment() {  # <key>/<string> pairs for the EnvironmentVariables dict
    local line name value
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        name="${line%%=*}"; value="${line#*=}"
        printf '        <key>%s</key>\n        <string>%s</string>\n' "$name" "$(xml_escape "$value")"
    done < <(stigmem_vars)
}
