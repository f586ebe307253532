/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The devmem-heap regions of real devices, as the selftests find them in
 * debugfs: their names and sizes, their stats, and where a buffer lies in
 * its region; a sysfs writer, for binding and unbinding devices; and the
 * "pattern" mode that leaves patterns in device memory for the host.
 */
#ifndef DEVMEM_REGIONS_H
#define DEVMEM_REGIONS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kselftest.h"

#define DEBUGFS		"/sys/kernel/debug/devmem_heap"
#define MAX_REGIONS	8
#define MAX_RANGES	64

struct region {
	char name[64];
	unsigned long long size;
};

static struct region regions[MAX_REGIONS];
static int nregions;

/*
 * Copies the value of "key: value" in a region's debugfs stats to @out.
 * Returns whether the key is there.
 */
static __maybe_unused int stat_str(const char *region, const char *key, char *out, size_t n)
{
	char path[512], line[256];
	size_t klen = strlen(key);
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), DEBUGFS "/%s/stats", region);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, n, "%.200s", line + klen + 1 + (line[klen + 1] == ' '));
			found = 1;
		}
	}
	fclose(f);
	return found;
}

/* The number of "key: value" in a region's debugfs stats; -1 if absent. */
static __maybe_unused long long stat_of(const char *region, const char *key)
{
	char val[256];

	return stat_str(region, key, val, sizeof(val)) ? strtoll(val, NULL, 0) : -1;
}

static __maybe_unused void find_regions(void)
{
	struct dirent *e;
	DIR *d = opendir(DEBUGFS);

	if (!d)
		return;
	while ((e = readdir(d)) && nregions < MAX_REGIONS) {
		if (e->d_name[0] == '.' || stat_of(e->d_name, "bar") < 0)
			continue;
		snprintf(regions[nregions].name, sizeof(regions[0].name), "%.63s",
			 e->d_name);
		regions[nregions].size = stat_of(e->d_name, "size");
		nregions++;
	}
	closedir(d);
}

static __maybe_unused int open_heap(const char *region, int contiguous)
{
	char path[512];

	snprintf(path, sizeof(path), "/dev/dma_heap/%.63s%s", region,
		 contiguous ? "-contiguous" : "");
	return open(path, O_RDWR | O_CLOEXEC);
}

/* Whether the region is completely free with no live buffer. */
static __maybe_unused int region_idle(const struct region *r)
{
	return stat_of(r->name, "free") == (long long)r->size &&
	       stat_of(r->name, "used") == 0 &&
	       stat_of(r->name, "live_buffers") == 0;
}

/*
 * Waits (up to 10 s) for the region's scrubber to have cleared all of its
 * free memory: only then have freed blocks merged with their cleared
 * neighbours again. Returns whether it did.
 */
static __maybe_unused int region_scrubbed(const struct region *r)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (stat_of(r->name, "cleared") == stat_of(r->name, "free"))
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Looks the buffer with inode @ino up in the region's debugfs buffers. */
static __maybe_unused int buffer_ranges(const char *region, unsigned long ino,
					unsigned long long *off, unsigned long long *len,
					int max)
{
	char path[512], line[4096];
	int n = -1;
	FILE *f;

	snprintf(path, sizeof(path), DEBUGFS "/%s/buffers", region);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *tok, *save;
		unsigned long lino;

		line[strcspn(line, "\n")] = 0;
		lino = strtoul(line, NULL, 10);
		if (lino != ino)
			continue;
		n = 0;
		strtok_r(line, " ", &save);		/* ino */
		strtok_r(NULL, " ", &save);		/* size */
		strtok_r(NULL, " ", &save);		/* placement */
		while ((tok = strtok_r(NULL, " ", &save)) && n < max) {
			if (sscanf(tok, "%llx+%llx", &off[n], &len[n]) == 2)
				n++;
		}
		break;
	}
	fclose(f);
	return n;
}

/* The offset in the region of byte @at of the buffer with inode @ino. */
static __maybe_unused long long region_offset(const char *region, unsigned long ino,
					      unsigned long long at)
{
	unsigned long long off[MAX_RANGES], len[MAX_RANGES];
	int i, n = buffer_ranges(region, ino, off, len, MAX_RANGES);

	for (i = 0; i < n; i++) {
		if (at < len[i])
			return off[i] + at;
		at -= len[i];
	}
	return -1;
}

static __maybe_unused unsigned long ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

/* Writes @s to the sysfs file @path: 0 or -errno. */
static __maybe_unused int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * Prints, for the host, where the @n bytes @pat at byte @at of the buffer
 * @fd of region @r lie in its device's memory:
 *   expect <region> <region size> <offset in the BAR> <pattern in hex>
 * Returns 0, or -1 if they do not lie in one piece of the region.
 */
static __maybe_unused int print_expect(const struct region *r, int fd, unsigned long long at,
				       const unsigned char *pat, size_t n)
{
	long long off = region_offset(r->name, ino_of(fd), at);
	size_t j;

	if (off < 0 || region_offset(r->name, ino_of(fd), at + n - 1) != off + (long long)n - 1)
		return -1;
	printf("expect %s %llu %lld ", r->name, r->size, off);
	for (j = 0; j < n; j++)
		printf("%02x", pat[j]);
	printf("\n");
	return 0;
}

/*
 * The "pattern" mode of the selftests: runs @write_fn (0 on success) in a
 * child, which then keeps its buffers, and so the patterns, until
 * power-off. Returns main's exit status: 0 once the child has written.
 */
static __maybe_unused int pattern_mode(int (*write_fn)(const char *text), const char *text)
{
	int pipefd[2];
	char status = '1';

	if (pipe(pipefd))
		return 1;
	if (fork() == 0) {
		int ret;

		close(pipefd[0]);
		ret = write_fn(text);
		fflush(stdout);
		if (write(pipefd[1], ret ? "1" : "0", 1) != 1 || ret)
			exit(1);
		close(pipefd[1]);
		pause();
		exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], &status, 1) != 1)
		return 1;
	return status != '0';
}

#endif /* DEVMEM_REGIONS_H */
