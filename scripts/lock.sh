#!/usr/bin/env bash
# The dependency locks, made by pip-tools' pip-compile: every package of both environments pinned to one
# version, with the SHA-256 of each file pip may take for it (scripts/setup.sh installs with --require-hashes,
# so pip refuses any other file).
#   requirements.lock       Python 3.11  requirements.txt                          what `make run` installs
#   requirements-test.lock  Python 3.11  requirements.txt + requirements-test.txt  what `make test` installs; held
#                                        to requirements.lock's versions (-c), so the tests run what production runs
#   bot/requirements.lock   Python 3.10  bot/requirements.txt                      the Rasa server
# People edit the *.txt files; a lock's first line holds a digest of its inputs' requirement lines (comments and
# blank lines left out), and --check (run by scripts/setup.sh) refuses a lock made from other inputs.
# pip-compile runs under each lock's own Python, from venvs in var/lock-tools installed from scripts/pip-tools.lock.
# Usage: scripts/lock.sh                      lock what changed; every other package keeps its pin
#        scripts/lock.sh --upgrade NAME[,NAME] move these packages to the newest release the inputs allow
#        scripts/lock.sh --upgrade all        move every package
#        scripts/lock.sh --check              exit 1, naming each lock that is out of date with its inputs
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pythons.sh
source scripts/pythons.sh

LOCKS=(requirements.lock requirements-test.lock bot/requirements.lock)

# inputs_of LOCK: the files a lock is made from (requirements.lock is an input of the test lock: its -c).
inputs_of() {
  case $1 in
    requirements.lock) echo requirements.txt ;;
    requirements-test.lock) echo requirements.txt requirements-test.txt requirements.lock ;;
    bot/requirements.lock) echo bot/requirements.txt ;;
  esac
}

# inputs_digest FILE...: SHA-256 of the files' requirement lines (comments, blank lines and trailing spaces left out).
inputs_digest() {
  local f
  for f in "$@"; do
    echo "== $f"
    sed -e 's/\(^\|[[:space:]]\)#.*$//' -e 's/[[:space:]]*$//' -e '/^$/d' "$f"
  done | sha256sum | cut -d' ' -f1
}

check() {
  local lock stale=0 want have
  for lock in "${LOCKS[@]}"; do
    # shellcheck disable=SC2046
    want=$(inputs_digest $(inputs_of "$lock"))
    have=$(sed -n '1s/^# inputs-sha256: \([0-9a-f]*\).*/\1/p' "$lock" 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
      echo "lock: $lock was not made from the current $(inputs_of "$lock" | sed 's/ /, /g')." >&2
      stale=1
    fi
  done
  if [ $stale = 1 ]; then
    echo "lock: a requirements file changed without its lock. Run \`make lock\` and commit the .txt and .lock files together." >&2
    return 1
  fi
}

if [ "${1:-}" = "--check" ]; then
  check
  exit
fi

upgrade=()
if [ "${1:-}" = "--upgrade" ]; then
  [ -n "${2:-}" ] || { echo "usage: scripts/lock.sh --upgrade all|NAME[,NAME]" >&2; exit 2; }
  if [ "$2" = all ]; then
    upgrade=(--upgrade)
  else
    IFS=, read -ra names <<<"$2"
    for n in "${names[@]}"; do upgrade+=(--upgrade-package "$n"); done
  fi
elif [ -n "${1:-}" ]; then
  echo "usage: scripts/lock.sh [--upgrade all|NAME[,NAME] | --check]" >&2
  exit 2
fi

# tools PYTHON NAME: a venv with pip-compile under that Python, installed from the hashed scripts/pip-tools.lock.
tools() {
  local dir=var/lock-tools/$2
  local stamp
  stamp=$( { "$1" --version 2>&1; cat scripts/pip-tools.lock; } | sha256sum | cut -c1-16)
  if [ ! -f "$dir/.faqbot-stamp" ] || [ "$(cat "$dir/.faqbot-stamp")" != "$stamp" ]; then
    rm -rf "$dir"
    "$1" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --require-hashes --no-deps -r scripts/pip-tools.lock \
      2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    echo "$stamp" >"$dir/.faqbot-stamp"
  fi
  echo "$dir"
}

# compile TOOLS LOCK [PIP-COMPILE ARGS...]: write LOCK, then put its inputs' digest on its first line.
compile() {
  local tools=$1 lock=$2
  shift 2
  echo "lock: $lock"
  # The machine's pip configuration (extra indexes, the folder holding the CPU build of torch) applies while
  # locking and installing; it is not written into the locks. PYTHONWARNINGS quietens setuptools' deprecation
  # notices while pip-compile reads the metadata of the few packages published only as source.
  PYTHONWARNINGS=ignore CUSTOM_COMPILE_COMMAND="make lock" "$tools/bin/pip-compile" --quiet --no-config --generate-hashes --allow-unsafe \
    --strip-extras --no-emit-index-url --no-emit-find-links ${upgrade[@]+"${upgrade[@]}"} -o "$lock" "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  local digest
  # shellcheck disable=SC2046
  digest=$(inputs_digest $(inputs_of "$lock"))
  { echo "# inputs-sha256: $digest  (make lock writes this line; scripts/setup.sh checks it)"; grep -v '^# inputs-sha256: ' "$lock"; } >"$lock.new"
  mv "$lock.new" "$lock"
}

py311=$(need_python311) || exit 1
py310=$(need_python310) || exit 1
t311=$(tools "$py311" py3.11)
t310=$(tools "$py310" py3.10)
compile "$t311" requirements.lock requirements.txt
compile "$t311" requirements-test.lock -c requirements.lock requirements.txt requirements-test.txt
compile "$t310" bot/requirements.lock bot/requirements.txt
check
echo "lock: done; commit the .txt and .lock files together."
