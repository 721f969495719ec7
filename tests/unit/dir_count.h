/*
 * dir_count.h: the number of entries in a directory, for tests that check
 * what landed in a Maildir, a spool or a quarantine. Header-only.
 */
#ifndef PC_TEST_DIR_COUNT_H
#define PC_TEST_DIR_COUNT_H

#include <dirent.h>
#include <string.h>

/* Number of entries in dir (without . and ..); -1 if it cannot be read. */
static __attribute__((unused)) int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

#endif
