#!/bin/sh
# Bootstrap and run a just recipe: `./nf run` (the demo), `./nf test` (the suite), `./nf --list` (all recipes).
#
# Creates .venv with the project and its dev tools (`pip install -e '.[dev]'`, which brings `just`) when it is
# missing or pyproject.toml changed since the last install, then runs `just` from that venv. Needs Python >= 3.11.
set -eu

root=$(cd "$(dirname "$0")" && pwd)
venv="$root/.venv"
stamp="$venv/.nf-installed"
python=${PYTHON:-python3}

say() { printf 'nf: %s\n' "$*" >&2; }

wanted=$(cksum <"$root/pyproject.toml")

if [ ! -x "$venv/bin/just" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        say "need Python >= 3.11 as '$python' (set PYTHON=/path/to/python3.11)"
        exit 1
    fi
    mkdir -p "$venv"
    exec 9>"$venv/.nf-lock"
    if command -v flock >/dev/null; then
        flock 9  # a second ./nf started meanwhile waits here, then finds the venv ready
    fi
    if [ ! -x "$venv/bin/just" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        if [ ! -x "$venv/bin/python" ] && ! "$python" -m venv "$venv"; then
            if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
                say "python3 -m venv failed; installing Debian's python3-venv"
                apt-get update -qq && apt-get install -y -qq python3-venv && "$python" -m venv "$venv"
            else
                say "cannot create $venv: install the venv module (Debian: apt-get install python3-venv)"
                exit 1
            fi
        fi
        say "installing nixfleet and its dev tools into .venv (about a minute the first time)"
        start=$(date +%s)
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[dev]"
        echo "$wanted" >"$stamp"
        say "installed in $(($(date +%s) - start)) s"
    fi
    exec 9>&-
fi

exec "$venv/bin/just" --justfile "$root/justfile" "$@"
