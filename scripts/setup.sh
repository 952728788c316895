#!/usr/bin/env bash
# One-command set-up for a fresh machine: Debian packages (as root), the virtual
# environment at .venv/ with hwflow and every stack installed editable, then `hwflow doctor`.
# Idempotent: a second run checks and skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(qflow-tech-osu018 opensta g++ chromium)

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for p in "${DEBIAN_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
else
    echo "setup: not root (or no apt-get): skipping Debian packages ${DEBIAN_PACKAGES[*]}; install them yourself for the ASIC flow" >&2
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi

# Re-install only when pyproject.toml changed since the last successful install.
stamp=.venv/.hwflow-installed
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$digest" ] || ! .venv/bin/python -c "import hwflow" 2>/dev/null; then
    echo "setup: installing hwflow and its stacks into .venv (torch==2.13.0 CPU, tensorflow, hls4ml, ...)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[all]'
    echo "$digest" > "$stamp"
fi

.venv/bin/hwflow doctor
