#!/usr/bin/env bash
# Installs the two virtual environments the service needs from their hashed locks, each only when its lock changed:
#   .venv       Python 3.11: the API, retrieval and the custom actions   (requirements.lock, or requirements-test.lock)
#   .venv-rasa  Python 3.10: the Rasa server                             (bot/requirements.lock)
# The locks are made from the requirements*.txt files by `make lock` (scripts/lock.sh); a lock older than its
# .txt is refused before anything is installed.
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pythons.sh
source scripts/pythons.sh

with_test=0
[ "${1:-}" = "--test" ] && with_test=1

# make_venv DIR PYTHON LOCK: (re)install DIR only when the python or the lock changed.
make_venv() {
  local dir=$1 py=$2 lock=$3
  local stamp
  stamp=$( { "$py" --version 2>&1; cat "$lock"; } | sha256sum | cut -c1-16)
  if [ -f "$dir/.faqbot-stamp" ] && [ "$(cat "$dir/.faqbot-stamp")" = "$stamp" ]; then
    echo "setup: $dir is up to date"
    return 0
  fi
  echo "setup: installing $dir ($("$py" --version 2>&1)) from $lock"
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  # The lock names every package with its files' hashes: pip takes exactly those files (any other file is
  # refused) and resolves nothing (--no-deps); pip check then confirms that nothing is missing.
  # The few packages published only as source (the Rasa lock has three) are built with the lock's own
  # setuptools and wheel, installed first, rather than in an isolated build environment that would fetch
  # unhashed build tools from the index. A source package that needs another build backend fails here:
  # add that backend to the requirements file and `make lock`.
  # This machine's pip configuration names package folders that may not exist; pip says so for
  # every package. Those lines are noise, so they are dropped; real errors still show.
  local tools
  tools=$(mktemp)
  awk '/^(setuptools|wheel)==/ { p = 1 } p { print; if ($0 !~ /\\$/) p = 0 }' "$lock" > "$tools"
  if [ -s "$tools" ]; then
    "$dir/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$tools" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  fi
  rm -f "$tools"
  "$dir/bin/python" -m pip install --quiet --require-hashes --no-deps --no-build-isolation -r "$lock" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  "$dir/bin/python" -m pip check >/dev/null || { "$dir/bin/python" -m pip check >&2; exit 1; }
  echo "$stamp" > "$dir/.faqbot-stamp"
}

scripts/lock.sh --check || exit 1

py311=$(need_python311) || exit 1
py310=$(need_python310) || exit 1

lock=requirements.lock
[ $with_test = 1 ] && lock=requirements-test.lock
make_venv .venv "$py311" $lock
make_venv .venv-rasa "$py310" bot/requirements.lock
