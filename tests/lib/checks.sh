# checks.sh - the bookkeeping the shell suites share (sourced): ok and bad
# count a check and print its line, expect runs one; the suite prints the
# closing "$PASS passed, $FAIL failed" line itself.
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1${2:+: $2}"; }
# expect NAME COMMAND... - runs the command and records the result; a failure
# shows $STATUS and the start of $BODY where the suite sets them (HTTP checks).
expect() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name" "${STATUS:+status=$STATUS body=${BODY:0:300}}"; fi
}
