#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the leaderboard's browser test
# (tests/test_leaderboard_browser.py), installed with apt when they are missing and apt can be
# used (root, or passwordless sudo); otherwise a note, and that test is skipped with its reason.
# Returns at once when both are installed. TRACR_BENCH_NO_BROWSER=1 skips it.
set -uo pipefail
[ "${TRACR_BENCH_NO_BROWSER:-}" = 1 ] && exit 0
have() { command -v "$1" >/dev/null 2>&1; }
browser_ok() {
    { have chromium || have chromium-browser || have google-chrome; } &&
        { have chromedriver || [ -x /usr/lib/chromium/chromedriver ]; }
}
browser_ok && exit 0
note() { echo "note: $1; the browser test of the leaderboard will be skipped" >&2; exit 0; }
have apt-get || note "no chromium/chromedriver and no apt-get to install them"
if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif have sudo && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    note "no chromium/chromedriver, and apt needs root (run: sudo apt-get install chromium chromium-driver)"
fi
echo "installing chromium and chromium-driver with apt (for the leaderboard's browser test)" >&2
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y -q chromium chromium-driver >"$log" 2>&1; then
    "${SUDO[@]}" apt-get update -q >>"$log" 2>&1
    "${SUDO[@]}" apt-get install -y -q chromium chromium-driver >>"$log" 2>&1
fi
if browser_ok; then
    rm -f "$log"
else
    tail -n 5 "$log" >&2
    rm -f "$log"
    note "apt could not install chromium and chromium-driver"
fi
exit 0
