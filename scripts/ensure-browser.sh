#!/usr/bin/env bash
# Installs what the console's browser test (pkg/console/browser_test.go)
# needs: Debian's chromium, and playwright-core from npm to drive it. It
# never lets an installer download a browser of its own. What it cannot
# install it names; the test then fails (it never skips), so CI=true runs
# cannot pass without a browser.
set -uo pipefail
cd "$(dirname "$0")/.."
say() { printf '%s\n' "$*" >&2; }
missing=0

chromium="${FRAMEGATE_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
      || { say "apt-get install chromium failed; install it yourself"; missing=1; }
  else
    say "missing: $chromium; install Debian's chromium (sudo apt-get install chromium) or set FRAMEGATE_CHROMIUM"
    missing=1
  fi
fi

dir=pkg/console/testdata/browser
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing nodejs and npm with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null) \
      || { say "apt-get install nodejs npm failed; install Node.js 20 or newer"; missing=1; }
  else
    say "missing: node and npm; install Node.js 20 or newer"
    missing=1
  fi
fi
installed() { # the locked playwright-core is in node_modules
  (cd "$dir" && node -e 'const l = require("./package-lock.json"), m = require("./node_modules/playwright-core/package.json");
    process.exit(l.packages["node_modules/playwright-core"].version === m.version ? 0 : 1)' 2>/dev/null)
}
if command -v npm >/dev/null 2>&1 && ! installed; then
  # playwright-core downloads no browser: it drives the one above.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
    || { say "npm ci in $dir failed"; missing=1; }
fi
if [ "$missing" = 1 ] && [ "${CI:-}" = true ]; then
  say "CI=true: the console's browser test needs these; failing"
  exit 1
fi
exit 0
