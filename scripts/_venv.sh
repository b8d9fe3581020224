# Sourced by scripts/demo and scripts/test: create .venv and install the project into it
# when it is missing or pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LAMBDA_ROUTE_VENV:-$ROOT/.venv}"

ensure_venv() {
    local extras="$1" stamp
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "lambda-route needs Python 3.11 or newer (set PYTHON=/path/to/python3.x)" >&2
        exit 1
    fi
    [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
    stamp="$VENV/.lambda-route-installed${extras}"
    # a [dev] install (scripts/test) includes the plain one (scripts/demo)
    if [ -z "$extras" ] && [ -f "$stamp[dev]" ] && [ ! "$ROOT/pyproject.toml" -nt "$stamp[dev]" ]; then
        return
    fi
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "Installing lambda-route${extras} into $VENV ..." >&2
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT$extras"
        touch "$stamp"
    fi
}
