/*
 * rssfloor: the resident memory a process pays for its libraries alone. It starts nothing:
 * it prints its own VmRSS once the dynamic loader and the libraries' constructors have run.
 * Built twice (bench/local.mk): linked with libmicrohttpd only (Debian's links GnuTLS,
 * whose constructor runs at load), and with libmicrohttpd, libsystemd and jansson, the
 * libraries serviced links. run.sh reports both beside the servers' idle RSS, as the floor
 * any program using them starts from.
 *
 *   rssfloor    prints "rss_kib N"
 */
#include <stdio.h>
#include <string.h>
#include <microhttpd.h>
#ifdef RSSFLOOR_DEPS
#include <jansson.h>
#include <systemd/sd-daemon.h>
#endif

int main(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	long kib = -1;

	/* Referenced, so that the linker keeps each library whatever its --as-needed. */
	if (MHD_get_version() == NULL)
		return 1;
#ifdef RSSFLOOR_DEPS
	if (jansson_version_str() == NULL || sd_booted() < -1000)
		return 1;
#endif
	if (f == NULL)
		return 1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			sscanf(line + 6, "%ld", &kib);
	fclose(f);
	if (kib < 0)
		return 1;
	printf("rss_kib %ld\n", kib);
	return 0;
}
