#!/usr/bin/env bash
# Run one test suite and say how long it took: `scripts/timed.sh NAME COMMAND...`.
# The line is printed and appended to $SUITE_TIMES (if set), which `scripts/timed.sh --summary` prints as a table.
set -uo pipefail
if [[ "${1:-}" == "--summary" ]]; then
    [[ -n "${SUITE_TIMES:-}" && -f "$SUITE_TIMES" ]] || exit 0
    echo "== wall time per suite =="
    awk '{ printf "  %-14s %3dm%02ds  %s\n", $1, $2 / 60, $2 % 60, $3; t += $2; if ($1 != "setup") s += $2 }
         END { printf "  %-14s %3dm%02ds\n  %-14s %3dm%02ds\n", "tests", s / 60, s % 60, "total", t / 60, t % 60 }' \
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
