/*
 * replay: runs a fuzz target over files once, without libFuzzer, so that "make check"
 * keeps every seed and every regression input passing under the ordinary build.
 *
 *   replay-TARGET [FILE|DIR]...
 *
 * A directory stands for the files in it and beneath it, in name order (hidden ones
 * skipped). With no arguments the directories built in as FUZZ_REPLAY_DIRS (a colon-
 * separated list) are used; one written "?DIR" may be missing (a target's regression
 * directory exists only once it has found something). A broken property aborts inside the target; replay itself
 * fails when a path cannot be read or when no input at all was found, so that a moved
 * corpus cannot turn the test into one that passes by doing nothing.
 */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef FUZZ_REPLAY_DIRS
#define FUZZ_REPLAY_DIRS ""
#endif

#define REPLAY_FILE_MAX (16 * 1024 * 1024) /* no corpus file is anywhere near this */

static unsigned long replay_count;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf, *exact;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	buf = malloc(REPLAY_FILE_MAX);
	if (buf == NULL) {
		fclose(f);
		fprintf(stderr, "replay: out of memory\n");
		return -1;
	}
	n = fread(buf, 1, REPLAY_FILE_MAX, f);
	if (ferror(f) || n == REPLAY_FILE_MAX) {
		fprintf(stderr, "replay: %s: %s\n", path, ferror(f) ? "read error" : "too large");
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Exactly n bytes on the heap, as libFuzzer passes them: a target that reads past
	 * the end shows under ASan here too. */
	exact = realloc(buf, n > 0 ? n : 1);
	if (exact != NULL)
		buf = exact;
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	replay_count++;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_path(const char *path)
{
	struct dirent *e;
	struct stat sb;
	char **names = NULL, sub[4096];
	size_t count = 0, cap = 0, i;
	DIR *d;
	int r = 0;

	if (stat(path, &sb) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode))
		return replay_file(path);
	d = opendir(path);
	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (count == cap) {
			char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);

			if (grown == NULL)
				abort();
			names = grown;
		}
		names[count] = strdup(e->d_name);
		if (names[count++] == NULL)
			abort();
	}
	closedir(d);
	if (count > 0)
		qsort(names, count, sizeof *names, name_cmp);
	for (i = 0; i < count; i++) {
		snprintf(sub, sizeof sub, "%s/%s", path, names[i]);
		if (replay_path(sub) < 0)
			r = -1;
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	char *dirs, *p, *save = NULL;
	int i, r = 0;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_path(argv[i]) < 0)
				r = 1;
	} else {
		dirs = strdup(FUZZ_REPLAY_DIRS);
		if (dirs == NULL)
			abort();
		for (p = strtok_r(dirs, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save)) {
			if (*p == '?' && access(++p, F_OK) < 0 && errno == ENOENT)
				continue;
			if (replay_path(p) < 0)
				r = 1;
		}
		free(dirs);
	}
	if (replay_count == 0) {
		fprintf(stderr, "replay: no input found\n");
		return 1;
	}
	printf("replay: %lu inputs\n", replay_count);
	return r;
}
