#!/bin/sh
# Bootstrap and run a just recipe: `./nf run` (the demo), `./nf test` (the suite), `./nf --list` (all recipes).
#
# Creates .venv when it is missing or pyproject.toml changed since the last install: `./nf run` installs the
# project alone (`pip install -e .`) and starts the demo itself, without `just` in between (Ctrl+C and SIGTERM then
# reach the demo alone: it stops at once and exits 0); everything else installs the dev tools too
# (`pip install -e '.[dev]'`, which brings `just`) and runs `just` from that venv. Needs Python >= 3.11.
set -eu

root=$(cd "$(dirname "$0")" && pwd)
venv="$root/.venv"
stamp="$venv/.nf-installed"
python=${PYTHON:-python3}

say() { printf 'nf: %s\n' "$*" >&2; }

if [ "${1:-}" = run ]; then
    level=run spec="$root" what="nixfleet"
else
    level=dev spec="$root[dev]" what="nixfleet and its dev tools"
fi
wanted=$(cksum <"$root/pyproject.toml")

# Installed for this pyproject.toml at this level or above (the dev tools include everything `run` needs).
installed() {
    [ -x "$venv/bin/nixfleet" ] || return 1
    case "$(cat "$stamp" 2>/dev/null)" in
        "$wanted dev") return 0 ;;
        "$wanted run") [ "$level" = run ] ;;
        *) return 1 ;;
    esac
}

if ! installed; then
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        say "need Python >= 3.11 as '$python' (set PYTHON=/path/to/python3.11)"
        exit 1
    fi
    mkdir -p "$venv"
    exec 9>"$venv/.nf-lock"
    if command -v flock >/dev/null; then
        flock 9  # a second ./nf started meanwhile waits here, then finds the venv ready
    fi
    if ! installed; then
        if [ ! -x "$venv/bin/python" ] && ! "$python" -m venv "$venv"; then
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                say "python3 -m venv failed; installing Debian's python3-venv"
                apt-get update -qq && apt-get install -y -qq python3-venv && "$python" -m venv "$venv"
            else
                say "cannot create $venv: install the venv module (Debian: apt-get install python3-venv)"
                exit 1
            fi
        fi
        say "installing $what into .venv (the first time takes a few minutes: downloads)"
        start=$(date +%s)
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
        echo "$wanted $level" >"$stamp"
        say "installed in $(($(date +%s) - start)) s"
    fi
    exec 9>&-
fi

if [ "$level" = run ]; then
    shift
    exec "$venv/bin/nixfleet" demo "$@"
fi
exec "$venv/bin/just" --justfile "$root/justfile" "$@"
