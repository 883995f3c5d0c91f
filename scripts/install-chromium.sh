#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser download
# does not work on machines without general internet access). Installs it when it is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
"$(dirname "$0")/apt-install.sh" "the browser tests" chromium
