#!/usr/bin/env bash
# Installs the two virtual environments the service needs, each only when its requirements changed:
#   .venv       Python 3.11: the API, retrieval and the custom actions   (requirements.txt [+ requirements-test.txt])
#   .venv-rasa  Python 3.10: the Rasa server                             (bot/requirements.txt)
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[ "${1:-}" = "--test" ] && with_test=1

find_python311() {
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

is_python310() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }

find_python310() {
  local candidates=()
  [ -n "${FAQBOT_PYTHON310:-}" ] && candidates+=("$FAQBOT_PYTHON310")
  command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
  if command -v pyenv >/dev/null 2>&1; then
    local prefix
    prefix=$(pyenv prefix 3.10 2>/dev/null) && candidates+=("$prefix/bin/python3.10")
  fi
  local root
  root=$( (pyenv root 2>/dev/null) || echo "$HOME/.pyenv")
  for p in "$root"/versions/3.10.*/bin/python3.10; do candidates+=("$p"); done
  for p in "${candidates[@]}"; do
    # A pyenv shim answers to python3.10 without being one: run it to be sure.
    if [ -x "$p" ] && is_python310 "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

# make_venv DIR PYTHON REQUIREMENTS...: (re)install DIR only when the python or a requirements file changed.
make_venv() {
  local dir=$1 py=$2; shift 2
  local stamp
  stamp=$( { "$py" --version 2>&1; cat "$@"; } | sha256sum | cut -c1-16)
  if [ -f "$dir/.faqbot-stamp" ] && [ "$(cat "$dir/.faqbot-stamp")" = "$stamp" ]; then
    echo "setup: $dir is up to date"
    return 0
  fi
  echo "setup: installing $dir ($("$py" --version 2>&1)) from $*"
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip wheel >/dev/null 2>&1
  local args=()
  for r in "$@"; do args+=(-r "$r"); done
  # This machine's pip configuration names package folders that may not exist; pip says so for
  # every package. Those lines are noise, so they are dropped; real errors still show.
  "$dir/bin/python" -m pip install --quiet "${args[@]}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$stamp" > "$dir/.faqbot-stamp"
}

py311=$(find_python311) || { echo "setup: Python 3.11 is needed for the API and was not found (python3.11 or python3 on PATH)." >&2; exit 1; }
py310=$(find_python310) || {
  echo "setup: Python 3.10 is needed for Rasa 3.6 and was not found." >&2
  echo "       Looked at \$FAQBOT_PYTHON310, python3.10 on PATH, 'pyenv prefix 3.10' and \$(pyenv root)/versions/3.10.*." >&2
  echo "       Install it (e.g. 'pyenv install 3.10') or set FAQBOT_PYTHON310=/path/to/python3.10." >&2
  exit 1
}

reqs=(requirements.txt)
[ $with_test = 1 ] && reqs+=(requirements-test.txt)
make_venv .venv "$py311" "${reqs[@]}"
make_venv .venv-rasa "$py310" bot/requirements.txt
