#!/bin/bash
# run-suites.sh SUITE... - runs each `make SUITE`, shows its output, and sums
# the "N passed, N failed" line each suite ends with into one final line.
# A suite that exits non-zero without such a line counts as one failure.
set -u
make=${MAKE:-make}
logs=${BUILD:-build}/test-logs
mkdir -p "$logs"
total_pass=0 total_fail=0 rc=0 failed_suites=()
for suite in "$@"; do
    echo "=== $suite"
    start=$(date +%s)
    $make --no-print-directory -s "$suite" 2>&1 | tee "$logs/$suite.log"
    status=${PIPESTATUS[0]}
    line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$logs/$suite.log" | tail -n 1)
    pass=$(echo "$line" | sed -nE 's/^([A-Za-z-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/p')
    fail=$(echo "$line" | sed -nE 's/^([A-Za-z-]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/p')
    pass=${pass:-0}
    fail=${fail:-0}
    if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
    fi
    [ "$status" -ne 0 ] && rc=1
    [ "$fail" -ne 0 ] && rc=1
    if [ "$status" -ne 0 ] || [ "$fail" -ne 0 ]; then
        failed_suites+=("$suite")
    fi
    echo "=== $suite: $pass passed, $fail failed ($(( $(date +%s) - start )) s)"
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
done
# A long run's log is often read from its end only: name what failed there.
for suite in "${failed_suites[@]}"; do
    lines=$(grep -E 'FAIL|[Ff]ailed|not ok|ERROR|Assertion|Sanitizer|panic|BUG' "$logs/$suite.log" |
        grep -vE '(^|: )[0-9]+ passed, 0 failed' | tail -n 20)
    [ -n "$lines" ] || lines=$(tail -n 5 "$logs/$suite.log")
    echo "=== failed: $suite (full log: $logs/$suite.log):"
    echo "$lines" | sed 's/^/    /'
done
echo "$total_pass passed, $total_fail failed"
exit $rc
