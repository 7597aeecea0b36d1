# bench/drain.gp: the drain timeline. run.sh passes samples (svcbench drain: t_ms, state,
# requests_in_flight, connections_open, slow_downloads, every 10 ms), events (servicectl
# watch --json through watch.awk: t_ms, event, requests_in_flight, connections_open, from,
# to) and out (the PNG). Time 0 is the SIGTERM.
set terminal pngcairo size 1000,560 font "sans,10"
set output out
set datafile separator "\t"
set datafile commentschars "#"
stats samples using 4 nooutput
ymax = STATS_max * 1.35 + 2
set yrange [0:ymax]
set xlabel "ms since SIGTERM"
set ylabel "count"
set title "serviced draining under load (wrk keep-alive on a small page + slow downloads of a large file)"
set grid
set key at graph 0.97, graph 0.66 right top box opaque samplen 3
# State changes (from the watch events) as dashed lines, their names staggered so that
# changes a millisecond apart stay readable.
plot samples using 1:4 with steps lw 3 lc rgb "#1f77b4" title "connections open (status every 10 ms)", \
     samples using 1:3 with steps lw 1.5 lc rgb "#d62728" title "requests in flight (status every 10 ms)", \
     events using 1:(strcol(2) eq "counts" ? $4 : 1/0) with points pt 6 ps 1.3 lw 1.5 lc rgb "#1f77b4" title "connections open (servicectl watch, counts event)", \
     events using 1:(strcol(2) eq "counts" ? $3 : 1/0) with points pt 7 ps 0.9 lc rgb "#d62728" title "requests in flight (servicectl watch, counts event)", \
     events using 1:(strcol(2) eq "state" ? 0 : 1/0):(0):(ymax) with vectors nohead dt 2 lc rgb "#555555" notitle, \
     events using 1:(strcol(2) eq "state" ? ymax * (0.96 - 0.05 * (int($0) % 4)) : 1/0):(strcol(6)) with labels right offset -0.4,0 tc rgb "#333333" notitle
