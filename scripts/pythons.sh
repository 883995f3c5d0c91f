# Finds the two interpreters the project needs; sourced by scripts/setup.sh and scripts/lock.sh.
#   find_python311  Python 3.11: the API, retrieval and the custom actions
#   find_python310  Python 3.10: the Rasa server (Rasa 3.6 does not run on 3.11)

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

need_python311() {
  find_python311 || { echo "Python 3.11 is needed for the API and was not found (python3.11 or python3 on PATH)." >&2; return 1; }
}

need_python310() {
  find_python310 || {
    echo "Python 3.10 is needed for Rasa 3.6 and was not found." >&2
    echo "  Looked at \$FAQBOT_PYTHON310, python3.10 on PATH, 'pyenv prefix 3.10' and \$(pyenv root)/versions/3.10.*." >&2
    echo "  Install it (e.g. 'pyenv install 3.10') or set FAQBOT_PYTHON310=/path/to/python3.10." >&2
    return 1
  }
}
