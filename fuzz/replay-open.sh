#!/bin/bash
# fuzz/replay-open.sh: the reproducers of findings not fixed yet, in
# tests/fuzz-regress/open/TARGET/. Each must still break its target's properties; this test
# is in XFAIL_TESTS, so that is the expected result. When a fix lands, its reproducer passes,
# the test XPASSes and "make check" fails saying which file to move to
# tests/fuzz-regress/TARGET/, where the ordinary replay keeps it passing from then on.
set -u
open=${top_srcdir:-.}/tests/fuzz-regress/open
bin=${top_builddir:-.}/fuzz

fixed=0 still=0
for dir in "$open"/*/; do
	[ -d "$dir" ] || continue
	target=$(basename "$dir")
	for f in "$dir"*; do
		[ -f "$f" ] || continue
		if out=$( ("$bin/replay-$target" "$f") 2>&1); then
			echo "FIXED: $f passes now: git mv it to tests/fuzz-regress/$target/"
			fixed=$((fixed + 1))
		else
			echo "still open: $f"
			echo "$out" | grep -E 'property failed|ERROR|runtime error' | head -n 1
			still=$((still + 1))
		fi
	done
done
if [ $((fixed + still)) -eq 0 ]; then
	echo "no open findings"
	exit 77
fi
# Any fixed one makes this XPASS, which fails "make check" with the message above.
[ "$fixed" -gt 0 ] && exit 0
exit 1
