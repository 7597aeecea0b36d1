# bench/watch.awk: servicectl watch --json output -> a table for drain.gp. One row per
# event: ms since grace began (from the daemon's own uptime_ms), event, requests in
# flight, connections open, from, to. Plain awk (Debian's default is mawk).
function num(k) {
	if (match($0, "\"" k "\":-?[0-9]+"))
		return substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
	return ""
}
function str(k) {
	if (match($0, "\"" k "\":\"[a-z_]*\""))
		return substr($0, RSTART + length(k) + 4, RLENGTH - length(k) - 5)
	return "-"
}
/"event":/ {
	up = num("uptime_ms")
	if (t0 == "" && str("to") == "grace")
		t0 = up - num("phase_elapsed_ms")
	rows[n++] = up "\t" str("event") "\t" num("requests_in_flight") "\t" num("connections_open") "\t" str("from") "\t" str("to")
}
END {
	print "# t_ms\tevent\trequests_in_flight\tconnections_open\tfrom\tto"
	for (i = 0; i < n; i++) {
		split(rows[i], f, "\t")
		printf "%d", f[1] - t0
		for (j = 2; j <= 6; j++)
			printf "\t%s", f[j]
		print ""
	}
}
