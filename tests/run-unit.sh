#!/bin/bash
# run-unit.sh TEST... - runs the unit test binaries, as many at once as the
# machine has CPUs (LOOM_UNIT_JOBS overrides), then prints each one's output
# in the order given and one line summing their "N passed, N failed".
# A binary that exits non-zero or prints no such line counts as a failure.
set -u
jobs=${LOOM_UNIT_JOBS:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
i=0
for t in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    ("$t" > "$out/$i" 2>&1; echo $? > "$out/$i.rc") &
    i=$((i + 1))
done
wait
pass=0 fail=0 i=0
for t in "$@"; do
    cat "$out/$i"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$i" | tail -n 1)
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    if [ -z "$line" ]; then
        p=0 f=1
    fi
    if [ "$(cat "$out/$i.rc")" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    pass=$((pass + p)) fail=$((fail + f)) i=$((i + 1))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
