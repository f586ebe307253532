// SPDX-License-Identifier: GPL-2.0
/*
 * dmem cgroup accounting of the devmem-heap regions of real devices (those
 * with a "bar:" in their debugfs stats), with cgroup v2:
 *   - every region is in dmem.capacity, under the name its stats give
 *     ("dmem:"), with its size;
 *   - a buffer is charged to the allocating task's cgroup, its size rounded
 *     up to the region's chunk, and uncharged when it is freed, exactly;
 *   - over dmem.max an allocation fails with ENOMEM while the region has
 *     room, and nothing stays charged; a sibling cgroup is not limited;
 *   - many allocation cycles leave nothing charged;
 *   - withdrawing a region (unbinding its device) while charged buffers
 *     live takes it out of dmem.capacity, the buffers close cleanly, and
 *     the device binds again with a fresh, uncharged region.
 * The test runs in cgroups of its own under /sys/fs/cgroup and moves back
 * to the root cgroup when done.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kselftest.h"
#include "dma_heap_util.h"
#include "devmem_regions.h"

#define CG		"/sys/fs/cgroup"
#define CG_A		CG "/devmem-dmem-a"
#define CG_B		CG "/devmem-dmem-b"
#define IVSHMEM_DRIVER	"/sys/bus/pci/drivers/devmem_ivshmem"
#define KIB		1024ULL
#define MIB		(1024 * KIB)
#define CYCLES		1000
#define ABSENT		-1LL
#define UNLIMITED	-2LL

/* The dmem name of each region, from its stats. */
static char dmem_names[MAX_REGIONS][256];

/*
 * The value of region @name in the dmem file @path ("<name> <value>" lines):
 * a number, UNLIMITED for "max", ABSENT if the region is not listed.
 */
static long long dmem_value(const char *path, const char *name)
{
	char line[512];
	size_t n = strlen(name);
	long long value = ABSENT;
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) || line[n] != ' ')
			continue;
		value = strncmp(line + n + 1, "max", 3) ? atoll(line + n + 1) : UNLIMITED;
	}
	if (f)
		fclose(f);
	return value;
}

static long long current_of(const char *cg, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/dmem.current", cg);
	return dmem_value(path, name);
}

/* Sets dmem.max of region @name in @cg to @limit bytes, or no limit for UNLIMITED. */
static int set_max(const char *cg, const char *name, long long limit)
{
	char path[256], line[320];

	snprintf(path, sizeof(path), "%s/dmem.max", cg);
	if (limit == UNLIMITED)
		snprintf(line, sizeof(line), "%s max", name);
	else
		snprintf(line, sizeof(line), "%s %lld", name, limit);
	return write_str(path, line);
}

/* Moves this process into @cg: 0 or -errno. */
static int enter_cgroup(const char *cg)
{
	char path[256], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return write_str(path, pid);
}

static unsigned long long round_up(unsigned long long len, unsigned long long chunk)
{
	return (len + chunk - 1) / chunk * chunk;
}

static int setup(void)
{
	/*
	 * Even the root's dmem files appear only once the controller is
	 * enabled for its children; enabling it again is no error.
	 */
	if (write_str(CG "/cgroup.subtree_control", "+dmem") || access(CG "/dmem.capacity", R_OK))
		return 0;
	if ((mkdir(CG_A, 0755) && errno != EEXIST) || (mkdir(CG_B, 0755) && errno != EEXIST))
		return 0;
	return !access(CG_A "/dmem.max", W_OK);
}

static void teardown(void)
{
	enter_cgroup(CG);
	rmdir(CG_A);
	rmdir(CG_B);
}

static void test_capacity(int i)
{
	const struct region *r = &regions[i];
	long long cap = dmem_value(CG "/dmem.capacity", dmem_names[i]);

	ksft_test_result(cap == (long long)r->size,
			 "%s: in dmem.capacity as %s, %lld bytes (region: %llu)\n",
			 r->name, dmem_names[i], cap, r->size);
}

/* Each buffer is charged to its task's cgroup, rounded to chunks, until freed. */
static void test_charged_exactly(int i)
{
	const struct region *r = &regions[i];
	const char *name = dmem_names[i];
	unsigned long long chunk = stat_of(r->name, "chunk_size");
	int heap = open_heap(r->name, 0), cheap = open_heap(r->name, 1);
	long long root_before = current_of(CG, name), after_alloc = -1, after_free = -1;
	long long root_during = -1, expected = -1;
	int ok = heap >= 0 && cheap >= 0 && !enter_cgroup(CG_A);
	int a = -1, b = -1;

	ok = ok && current_of(CG_A, name) == 0;
	if (ok) {
		a = heap_alloc(heap, 3 * 4096, O_RDWR, 0);
		b = heap_alloc(cheap, MIB + 4096, O_RDWR, 0);
		after_alloc = current_of(CG_A, name);
		root_during = current_of(CG, name);
		expected = round_up(3 * 4096, chunk) + round_up(MIB + 4096, chunk);
		ok = a >= 0 && b >= 0 && after_alloc == expected;
		close(a);
		close(b);
		after_free = current_of(CG_A, name);
		ok = ok && after_free == 0;
	}
	/* The root counts its descendants' charges too. */
	ok = ok && root_during == root_before + after_alloc &&
	     current_of(CG, name) == root_before;
	ok = !enter_cgroup(CG) && ok;
	ksft_test_result(ok, "%s: charged %lld bytes (chunk %llu: %lld), %lld once freed\n",
			 r->name, after_alloc, chunk, expected, after_free);
	close(heap);
	close(cheap);
}

/* Over dmem.max: ENOMEM though the region has room; a sibling cgroup is not limited. */
static void test_max_enforced(int i)
{
	const struct region *r = &regions[i];
	const char *name = dmem_names[i];
	int heap = open_heap(r->name, 0), cheap = open_heap(r->name, 1);
	long long failures = stat_of(r->name, "failures"), charged = -1;
	int ok = heap >= 0 && cheap >= 0 && !set_max(CG_A, name, MIB) &&
		 dmem_value(CG_A "/dmem.max", name) == (long long)MIB && !enter_cgroup(CG_A);
	int half = -1, over = 0, rest = -1, page = 0, sibling = -1;

	if (ok) {
		half = heap_alloc(heap, MIB / 2, O_RDWR, 0);
		over = heap_alloc(cheap, 3 * MIB / 4, O_RDWR, 0);
		charged = current_of(CG_A, name);
		rest = heap_alloc(heap, MIB / 2, O_RDWR, 0);
		page = heap_alloc(heap, 4096, O_RDWR, 0);
		ok = half >= 0 && over == -ENOMEM && charged == (long long)(MIB / 2) &&
		     rest >= 0 && page == -ENOMEM &&
		     stat_of(r->name, "free") >= (long long)(3 * MIB / 4) &&
		     stat_of(r->name, "failures") == failures + 2 &&
		     current_of(CG_A, name) == (long long)MIB;
		ok = !enter_cgroup(CG_B) && ok;
		sibling = heap_alloc(heap, 2 * MIB, O_RDWR, 0);
		ok = ok && sibling >= 0 && current_of(CG_B, name) == (long long)(2 * MIB);
		close(sibling);
		close(half);
		close(rest);
		ok = ok && current_of(CG_A, name) == 0 && current_of(CG_B, name) == 0;
	}
	ok = !enter_cgroup(CG) && !set_max(CG_A, name, UNLIMITED) && ok;
	ksft_test_result(ok, "%s: max 1 MiB: 768 KiB over %s, a page over %s; sibling 2 MiB %s\n",
			 r->name, over == -ENOMEM ? "ENOMEM" : strerror(over < 0 ? -over : 0),
			 page == -ENOMEM ? "ENOMEM" : strerror(page < 0 ? -page : 0),
			 sibling >= 0 ? "ok" : "failed");
	close(heap);
	close(cheap);
}

/* Many cycles of allocations of every size, some over the limit: nothing stays charged. */
static void test_cycles(int i)
{
	const struct region *r = &regions[i];
	const char *name = dmem_names[i];
	int heap = open_heap(r->name, 0), cheap = open_heap(r->name, 1);
	int ok = heap >= 0 && cheap >= 0 && !set_max(CG_A, name, 4 * MIB) && !enter_cgroup(CG_A);
	int n, fds[4] = { -1, -1, -1, -1 }, refused = 0;

	srand(1);
	for (n = 0; ok && n < CYCLES; n++) {
		int slot = n % 4;
		unsigned long long len = (1 + rand() % 512) * 4096ULL;

		if (fds[slot] >= 0)
			close(fds[slot]);
		fds[slot] = heap_alloc(n % 3 ? heap : cheap, len, O_RDWR, 0);
		if (fds[slot] == -ENOMEM)
			refused++;
		else if (fds[slot] < 0)
			ok = 0;
		ok = ok && current_of(CG_A, name) <= (long long)(4 * MIB);
	}
	for (n = 0; n < 4; n++)
		if (fds[n] >= 0)
			close(fds[n]);
	ok = ok && current_of(CG_A, name) == 0;
	ok = !enter_cgroup(CG) && !set_max(CG_A, name, UNLIMITED) && ok;
	ok = ok && region_idle(r);
	ksft_test_result(ok, "%s: %d cycles under a 4 MiB limit (%d refused): none charged after\n",
			 r->name, CYCLES, refused);
	close(heap);
	close(cheap);
}

/*
 * Unbinding the device withdraws the region while charged buffers live: it
 * leaves dmem.capacity, the buffers close, and the device binds again.
 */
static void test_withdrawal(int i)
{
	const struct region *r = &regions[i];
	const char *name = dmem_names[i];
	int heap = open_heap(r->name, 0);
	char dev[64] = "";
	int ok = heap >= 0 && stat_str(r->name, "device", dev, sizeof(dev)) && !enter_cgroup(CG_A);
	int a = -1, b = -1, again = -1, listed = -1, back = 0;
	long long fresh = -1;

	if (ok) {
		a = heap_alloc(heap, 64 * KIB, O_RDWR, 0);
		b = heap_alloc(heap, MIB, O_RDWR, 0);
		ok = a >= 0 && b >= 0 && current_of(CG_A, name) == (long long)(MIB + 64 * KIB);
		ok = ok && !write_str(IVSHMEM_DRIVER "/unbind", dev);
		listed = dmem_value(CG "/dmem.capacity", name) != ABSENT ||
			 current_of(CG_A, name) != ABSENT;
		ok = ok && !listed && heap_alloc(heap, 4096, O_RDWR, 0) == -ENODEV;
		close(a);
		close(b);
		back = !write_str(IVSHMEM_DRIVER "/bind", dev);
		ok = ok && back && dmem_value(CG "/dmem.capacity", name) == (long long)r->size;
		fresh = current_of(CG_A, name);
		again = heap_alloc(heap, 64 * KIB, O_RDWR, 0);
		ok = ok && fresh == 0 && again >= 0 &&
		     current_of(CG_A, name) == (long long)(64 * KIB);
		if (again >= 0)
			close(again);
		ok = ok && current_of(CG_A, name) == 0;
	}
	ok = !enter_cgroup(CG) && ok;
	ksft_test_result(ok, "%s: unbound while charged: %s dmem.capacity; bound again %s, %lld\n",
			 r->name, listed < 0 ? "not unbound:" : listed ? "still in" : "out of",
			 back ? "ok" : "failed", fresh);
	close(heap);
}

int main(void)
{
	int i;

	find_regions();
	ksft_print_header();
	if (!nregions)
		ksft_exit_skip("no devmem-heap region of a device\n");
	for (i = 0; i < nregions; i++)
		if (!stat_str(regions[i].name, "dmem", dmem_names[i], sizeof(dmem_names[i])))
			ksft_exit_fail_msg("%s: no dmem name in its stats\n", regions[i].name);
	/* The project's kernel has the controller: its absence is a failure. */
	if (!setup())
		ksft_exit_fail_msg("no cgroup v2 hierarchy with the dmem controller at " CG "\n");
	ksft_set_plan(nregions * 5);
	for (i = 0; i < nregions; i++) {
		ksft_print_msg("region %s: dmem %s\n", regions[i].name, dmem_names[i]);
		test_capacity(i);
		test_charged_exactly(i);
		test_max_enforced(i);
		test_cycles(i);
		test_withdrawal(i);
	}
	teardown();
	ksft_finished();
}
