#!/usr/bin/env bash
# Run one test suite and say how long it took: `scripts/timed.sh NAME COMMAND...`.
# The line is printed and appended to $SUITE_TIMES (if set), which `scripts/timed.sh --summary` prints as a table.
set -uo pipefail
if [[ "${1:-}" == "--summary" ]]; then
    [[ -n "${SUITE_TIMES:-}" && -f "$SUITE_TIMES" ]] || exit 0
    echo "== wall time per suite =="
    # A line named "tests" is the wall time of a test phase whose suites overlap; without one, the suites' sum.
    awk '$1 == "setup" { setup = $2 } $1 == "tests" { wall = $2; next }
         { printf "  %-14s %3dm%02ds  %s\n", $1, $2 / 60, $2 % 60, $3; if ($1 != "setup") s += $2 }
         END { if (wall != "") s = wall
               printf "  %-14s %3dm%02ds\n  %-14s %3dm%02ds\n", "tests", s / 60, s % 60, "total", (s + setup) / 60, (s + setup) % 60 }' \
        "$SUITE_TIMES"
    exit 0
fi
name=$1
shift
start=$(date +%s)
"$@"
status=$?
elapsed=$(($(date +%s) - start))
result=$([[ $status == 0 ]] && echo ok || echo "FAILED($status)")
printf '== %s: %dm%02ds %s\n' "$name" $((elapsed / 60)) $((elapsed % 60)) "$result"
if [[ -n "${SUITE_TIMES:-}" ]]; then
    mkdir -p "$(dirname "$SUITE_TIMES")" && echo "$name $elapsed $result" >>"$SUITE_TIMES"
fi
exit $status
