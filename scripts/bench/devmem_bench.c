// SPDX-License-Identifier: GPL-2.0
/*
 * make bench, in the guest: the devmem heaps against the system heap, side
 * by side in one boot. For each heap it measures
 *   - allocation of 4 KiB, 64 KiB, 1 MiB, 16 MiB and 64 MiB (median, p99);
 *   - mmap, a write to every page, munmap, of 1 MiB and 64 MiB buffers
 *     allocated beforehand;
 *   - allocation and release of 4 KiB buffers from one thread and from every
 *     CPU at once;
 *   - dma_buf_vmap() of a 16 MiB buffer, through the test importer;
 *   - 4 KiB buffers kept alive, one after another, up to a count: the time
 *     of each, the first and last tenth compared, the slab memory they take,
 *     then closing them all.
 * All but vmap are measured in ROUNDS rounds, each heap in turn in each
 * round, and the medians over the rounds reported: a burst of work on the
 * host then spoils one round of every heap, not the only pass of one.
 * Before each measurement, whatever the heap, it waits for every region's
 * scrubber to have cleared all free memory; after closing the live buffers
 * it also reports how long the scrubber took to clear what they freed.
 * Progress goes to stderr; results to stdout, one line each:
 *   result <metric> <heap> <value> <unit>
 * which the host (scripts/bench-report.py) turns into the table.
 *
 * "devmem_bench profile <heap> <bytes> <count>" allocates and closes
 * <count> buffers of <bytes> on CPU 0, and nothing else: make profile
 * traces that with function_graph. "devmem_bench profile-kept" allocates
 * all <count> first and then closes them all, as the scale row does: each
 * release then finds the buffer's memory cold.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "dma_heap_util.h"

#define KIB		1024ULL
#define MIB		(1024 * KIB)
#define VMAP_CHECK	"/sys/kernel/debug/devmem_heap/vmap_check"
#define PARALLEL_S	2.0
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define ROUNDS	3

static const char *const heaps[] = { "system", "ivshmem", "ivshmem-contiguous" };

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The @q quantile (0..1) of @n samples, which it sorts. */
static double quantile(double *v, int n, double q)
{
	int i;

	qsort(v, n, sizeof(*v), cmp_double);
	i = (int)(q * (n - 1) + 0.5);
	return v[i];
}

static int open_heap(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/dev/dma_heap/%s", name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static void report(const char *metric, const char *heap, double value, const char *unit)
{
	printf("result %s %s %.3f %s\n", metric, heap, value, unit);
	fflush(stdout);
}

/* A stats value of the devmem-heap region @region, or -1. */
static long long region_stat(const char *region, const char *key)
{
	char path[160], line[128];
	long long value = -1;
	size_t n = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/devmem_heap/%s/stats", region);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			value = atoll(line + n + 1);
	if (f)
		fclose(f);
	return value;
}

/* Whether every devmem-heap region has cleared all of its free memory. */
static int all_clean(void)
{
	DIR *dir = opendir("/sys/kernel/debug/devmem_heap");
	struct dirent *d;
	int clean = 1;

	while (dir && (d = readdir(dir)))
		if (d->d_name[0] != '.' &&
		    region_stat(d->d_name, "cleared") != region_stat(d->d_name, "free"))
			clean = 0;
	if (dir)
		closedir(dir);
	return clean;
}

/*
 * Waits up to 60 s for the scrubbers of all regions to have cleared all of
 * their free memory, so that no measurement, the system heap's included,
 * runs next to clearing another left behind (or the clearing of a region
 * that was just registered). Returns the milliseconds waited.
 */
static double settle(void)
{
	double t0 = now_us();
	int i;

	for (i = 0; i < 6000 && !all_clean(); i++)
		usleep(10000);
	return (now_us() - t0) / 1e3;
}

static int alloc(int heap, unsigned long long len)
{
	return heap_alloc(heap, len, O_RDWR | O_CLOEXEC, 0);
}

/* A figure a measurement gives: the metric it is reported as, and its unit. */
struct figure {
	const char *metric, *unit;
	int devmem_only;	/* not reported for the system heap */
};

#define MAX_FIGURES	8

/*
 * A measurement of one heap: fills @v with its figures and returns 0, or
 * reports an error and returns -1.
 */
typedef int (*measure_fn)(int heap, const char *name, const void *arg, double *v);

/*
 * Runs @measure in ROUNDS rounds, each heap of @fds in turn in each round,
 * each after settle(): a burst of work on the host then spoils one round of
 * every heap, not the only pass of one. Then reports, for each heap whose
 * measurement never failed, the median over the rounds of each of the
 * @n figures.
 */
static void in_rounds(const int *fds, measure_fn measure, const void *arg,
		      const struct figure *figures, unsigned int n)
{
	double v[ARRAY_SIZE(heaps)][ROUNDS][MAX_FIGURES], m[ROUNDS];
	int failed[ARRAY_SIZE(heaps)] = { 0 };
	unsigned int h, r, i;

	for (r = 0; r < ROUNDS; r++)
		for (h = 0; h < ARRAY_SIZE(heaps); h++) {
			if (fds[h] < 0 || failed[h])
				continue;
			settle();
			failed[h] = measure(fds[h], heaps[h], arg, v[h][r]);
		}
	for (h = 0; h < ARRAY_SIZE(heaps); h++) {
		if (fds[h] < 0 || failed[h])
			continue;
		for (i = 0; i < n && i < MAX_FIGURES; i++) {
			if (figures[i].devmem_only && !strcmp(heaps[h], "system"))
				continue;
			for (r = 0; r < ROUNDS; r++)
				m[r] = v[h][r][i];
			report(figures[i].metric, heaps[h], quantile(m, ROUNDS, 0.5),
			       figures[i].unit);
		}
	}
}

/* How large and how many: the argument of the measurements below. */
struct sized {
	unsigned long long len;
	int n;
};

/*
 * Allocation of @len bytes, @n times, each closed before the next: the
 * median and the p99 of the times.
 */
static int measure_alloc(int heap, const char *name, const void *arg, double *v)
{
	const struct sized *a = arg;
	double *t = calloc(a->n, sizeof(*t)), t0;
	int i, fd;

	for (i = 0; i < a->n; i++) {
		t0 = now_us();
		fd = alloc(heap, a->len);
		t[i] = now_us() - t0;
		if (fd < 0) {
			fprintf(stderr, "# %s: %llu bytes: %s\n", name, a->len, strerror(-fd));
			report("error", name, 1, "-");
			free(t);
			return -1;
		}
		close(fd);
	}
	v[0] = quantile(t, a->n, 0.5);
	v[1] = quantile(t, a->n, 0.99);
	free(t);
	return 0;
}

/* The allocation rows of @len bytes, @n samples each. */
static void bench_allocs(const int *fds, unsigned long long len, int n)
{
	struct sized arg = { len, n };
	char median[64], p99[64];
	struct figure figures[] = { { median, "us", 0 }, { p99, "us", 0 } };

	snprintf(median, sizeof(median), "alloc-%lluk-median", len / KIB);
	snprintf(p99, sizeof(p99), "alloc-%lluk-p99", len / KIB);
	in_rounds(fds, measure_alloc, &arg, figures, ARRAY_SIZE(figures));
}

/*
 * mmap, one write to every page, munmap, of each of @n buffers of @len,
 * all allocated first. Only the mappings are timed: the heaps' allocation
 * and freeing, and a devmem region's clearing in the background of what
 * was freed, are measured by the other rows, and would otherwise run next
 * to the mappings of the buffers after them.
 */
static int measure_touch(int heap, const char *name, const void *arg, double *v)
{
	const struct sized *a = arg;
	unsigned long long len = a->len;
	int n = a->n;
	double *t = calloc(n, sizeof(*t)), t0;
	int *fds = calloc(n, sizeof(*fds));
	int i, made;

	for (made = 0; made < n; made++) {
		fds[made] = alloc(heap, len);
		if (fds[made] < 0)
			break;
	}
	settle();
	for (i = 0; i < made; i++) {
		unsigned long long off;
		unsigned char *p;

		t0 = now_us();
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (p == MAP_FAILED)
			break;
		for (off = 0; off < len; off += 4096)
			p[off] = 1;
		munmap(p, len);
		t[i] = now_us() - t0;
	}
	if (i < n) {
		fprintf(stderr, "# %s: touch %llu bytes: stopped at %d: %s\n", name, len, i,
			strerror(made < n ? -fds[made] : errno));
		report("error", name, 1, "-");
	} else {
		v[0] = quantile(t, n, 0.5);
	}
	for (i = 0; i < made; i++)
		close(fds[i]);
	free(fds);
	free(t);
	return i < n ? -1 : 0;
}

/* The mmap and touch row of @len bytes, @n buffers. */
static void bench_touches(const int *fds, unsigned long long len, int n)
{
	struct sized arg = { len, n };
	char metric[64];
	struct figure figure = { metric, "us", 0 };

	snprintf(metric, sizeof(metric), "touch-%lluk", len / KIB);
	in_rounds(fds, measure_touch, &arg, &figure, 1);
}

/* dma_buf_vmap() + vunmap of a 16 MiB buffer, by the kernel's test importer. */
static void bench_vmap(int heap, const char *name, int n)
{
	double *t = calloc(n, sizeof(*t)), t0;
	char cmd[64];
	int i, fd, f, len;

	fd = alloc(heap, 16 * MIB);
	if (fd < 0) {
		report("error", name, 1, "-");
		free(t);
		return;
	}
	len = snprintf(cmd, sizeof(cmd), "%d 0 00", fd);
	for (i = 0; i < n; i++) {
		f = open(VMAP_CHECK, O_WRONLY);
		if (f < 0)
			break;
		t0 = now_us();
		if (write(f, cmd, len) != len)
			fprintf(stderr, "# %s: vmap_check: %s\n", name, strerror(errno));
		t[i] = now_us() - t0;
		close(f);
	}
	close(fd);
	if (i == n)
		report("vmap-16384k", name, quantile(t, n, 0.5), "us");
	free(t);
}

/* The kernel's slab memory in bytes, by /proc/meminfo. */
static double slab_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	double kib = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %lf kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib * 1024;
}

/*
 * 4 KiB buffers kept alive, up to @max; then all closed. Also the slab
 * memory they take, per buffer: their dma-bufs and files, and the heap's
 * own records.
 */
/*
 * 4 KiB buffers kept alive, one after another, up to @arg (an int): how
 * many, the median time of the first and the last tenth and their ratio,
 * the slab memory per buffer, the time to close them all and then to clear
 * what they freed. A stop for want of memory is reported at once.
 */
static int measure_scale(int heap, const char *name, const void *arg, double *v)
{
	int max = *(const int *)arg;
	double *t = calloc(max, sizeof(*t)), t0, slab;
	int *fds = calloc(max, sizeof(*fds));
	int n, i, tenth, err = 0;

	fprintf(stderr, "# %s: %d live 4 KiB buffers\n", name, max);
	slab = slab_bytes();
	for (n = 0; n < max; n++) {
		t0 = now_us();
		fds[n] = alloc(heap, 4 * KIB);
		t[n] = now_us() - t0;
		if (fds[n] < 0) {
			err = -fds[n];
			break;
		}
		if (n && n % 10000 == 0)
			fprintf(stderr, "# scale %s: %d live buffers, the last at %.0f us\n",
				name, n, t[n]);
	}
	slab = slab_bytes() - slab;
	tenth = n / 10 ? n / 10 : 1;
	v[0] = n;
	v[1] = quantile(t, tenth, 0.5);
	v[2] = quantile(t + n - tenth, tenth, 0.5);
	v[3] = v[2] / v[1];
	v[4] = n ? slab / n : 0;
	if (err) {
		fprintf(stderr, "# scale %s: stopped at %d: %s\n", name, n, strerror(err));
		report("scale-stopped", name, n, "buffers");
	}
	t0 = now_us();
	for (i = 0; i < n; i++)
		close(fds[i]);
	v[5] = (now_us() - t0) / 1e3;
	v[6] = settle();
	free(fds);
	free(t);
	return 0;
}

static void bench_scales(const int *fds, int max)
{
	static const struct figure figures[] = {
		{ "scale-count", "buffers", 0 },
		{ "scale-first-tenth", "us", 0 },
		{ "scale-last-tenth", "us", 0 },
		{ "scale-growth", "x", 0 },
		{ "scale-kmem", "bytes", 0 },
		{ "scale-close", "ms", 0 },
		{ "scale-scrub", "ms", 1 },
	};

	in_rounds(fds, measure_scale, &max, figures, ARRAY_SIZE(figures));
}

struct worker {
	int heap;
	long count;
	int err;
};

static void *parallel_worker(void *arg)
{
	struct worker *w = arg;
	double end = now_us() + PARALLEL_S * 1e6;
	int fd;

	while (now_us() < end) {
		fd = alloc(w->heap, 4 * KIB);
		if (fd < 0) {
			w->err = -fd;
			break;
		}
		close(fd);
		w->count++;
	}
	return NULL;
}

/* 4 KiB allocations per second with @threads threads at once. */
static double parallel_rate(int heap, int threads)
{
	pthread_t tid[16];
	struct worker w[16] = { 0 };
	long total = 0;
	int i;

	for (i = 0; i < threads; i++) {
		w[i].heap = heap;
		pthread_create(&tid[i], NULL, parallel_worker, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		total += w[i].count;
	}
	return total / PARALLEL_S;
}

/*
 * Allocation from one thread and from every CPU: the two rates and their
 * ratio. The second rate also runs after settle(), not next to the clearing
 * of what the first freed, which the system heap never pays.
 */
static int measure_parallel(int heap, const char *name, const void *arg, double *v)
{
	int cpus = sysconf(_SC_NPROCESSORS_ONLN);

	(void)name;
	(void)arg;
	cpus = cpus < 1 ? 1 : cpus > 16 ? 16 : cpus;
	v[0] = parallel_rate(heap, 1);
	settle();
	v[1] = parallel_rate(heap, cpus);
	v[2] = v[1] / v[0];
	return 0;
}

static void bench_parallels(const int *fds)
{
	static const struct figure figures[] = {
		{ "parallel-1", "allocs/s", 0 },
		{ "parallel-all", "allocs/s", 0 },
		{ "parallel-scaling", "x", 0 },
	};

	in_rounds(fds, measure_parallel, NULL, figures, ARRAY_SIZE(figures));
}

/* Allocation and close of @n buffers of @len bytes from @name, on CPU 0. */
/* Allocates and closes @n buffers of @len on CPU 0; all first if @kept. */
static int profile(const char *name, unsigned long long len, int n, int kept)
{
	struct rlimit nofile = { n + 1024, n + 1024 };
	int *fds = calloc(n, sizeof(*fds));
	cpu_set_t cpu0;
	int heap, i;

	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (!fds)
		return perror("calloc"), 1;
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0))
		return perror("sched_setaffinity"), 1;
	if (kept && setrlimit(RLIMIT_NOFILE, &nofile))
		return perror("RLIMIT_NOFILE"), 1;
	heap = open_heap(name);
	if (heap < 0)
		return perror(name), 1;
	for (i = 0; i < n; i++) {
		fds[i] = alloc(heap, len);
		if (fds[i] < 0) {
			fprintf(stderr, "%s: %llu bytes: %s\n", name, len, strerror(-fds[i]));
			return 1;
		}
		if (!kept)
			close(fds[i]);
	}
	for (i = 0; kept && i < n; i++)
		close(fds[i]);
	close(heap);
	free(fds);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned long long sizes[] = { 4 * KIB, 64 * KIB, MIB, 16 * MIB, 64 * MIB };
	int scale_max = argc > 1 ? atoi(argv[1]) : 131072;
	struct rlimit nofile = { scale_max + 1024, scale_max + 1024 };
	int fds[ARRAY_SIZE(heaps)];
	unsigned int h, s;

	if (argc == 5 && (!strcmp(argv[1], "profile") || !strcmp(argv[1], "profile-kept")))
		return profile(argv[2], strtoull(argv[3], NULL, 0), atoi(argv[4]),
			       !strcmp(argv[1], "profile-kept"));
	if (setrlimit(RLIMIT_NOFILE, &nofile))
		fprintf(stderr, "# RLIMIT_NOFILE %d: %s\n", scale_max + 1024, strerror(errno));
	for (h = 0; h < ARRAY_SIZE(heaps); h++) {
		fds[h] = open_heap(heaps[h]);
		if (fds[h] < 0) {
			fprintf(stderr, "# no heap %s\n", heaps[h]);
			report("error", heaps[h], 1, "-");
		}
	}
	for (s = 0; s < ARRAY_SIZE(sizes); s++) {
		fprintf(stderr, "# allocation of %llu KiB, %d rounds\n",
			sizes[s] / KIB, ROUNDS);
		bench_allocs(fds, sizes[s], sizes[s] >= 16 * MIB ? 10 : 2000);
	}
	fprintf(stderr, "# mmap and touch, %d rounds\n", ROUNDS);
	bench_touches(fds, MIB, 200);
	bench_touches(fds, 64 * MIB, 5);
	fprintf(stderr, "# parallel allocation, %d rounds\n", ROUNDS);
	bench_parallels(fds);
	for (h = 0; h < ARRAY_SIZE(heaps); h++) {
		int heap = fds[h];

		if (heap < 0)
			continue;
		fprintf(stderr, "# %s: vmap\n", heaps[h]);
		settle();
		bench_vmap(heap, heaps[h], 20);
	}
	bench_scales(fds, scale_max);
	for (h = 0; h < ARRAY_SIZE(heaps); h++)
		if (fds[h] >= 0)
			close(fds[h]);
	return 0;
}
