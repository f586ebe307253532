// SPDX-License-Identifier: GPL-2.0
/*
 * The Rust test heap through the real dma-heap uAPI: what the stock
 * dmabuf-heaps selftest does not look at. The exporter's name in
 * bufinfo, mmap at a non-zero offset, mmap bounds, the errors of bad
 * requests, and release when the last reference goes.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/dma-heap.h>

#include "kselftest.h"
#include "dma_heap_util.h"

#define HEAP		"/dev/dma_heap/rust_test_system"
#define EXPORTER	"rust_test_system"
#define BUFINFO		"/sys/kernel/debug/dma_buf/bufinfo"

/* Whether bufinfo lists a buffer of @size bytes, inode @ino, by EXPORTER. */
static int bufinfo_lists(size_t size, unsigned long ino)
{
	char line[512], exp[128];
	unsigned long long sz;
	unsigned long lino;
	int found = 0;
	FILE *f;

	f = fopen(BUFINFO, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* size flags mode count exp_name ino name */
		if (sscanf(line, "%llu %*x %*x %*d %127s %lu", &sz, exp, &lino) != 3)
			continue;
		if (sz == size && lino == ino && !strcmp(exp, EXPORTER))
			found = 1;
	}
	fclose(f);
	return found;
}

int main(void)
{
	size_t page = sysconf(_SC_PAGESIZE), size = 3 * page;
	unsigned char *whole, *tail;
	struct stat st;
	int heap, fd, i, ok;

	ksft_print_header();
	ksft_set_plan(9);

	heap = open(HEAP, O_RDONLY | O_CLOEXEC);
	if (heap < 0)
		ksft_exit_fail_msg("open %s: %s\n", HEAP, strerror(errno));

	fd = heap_alloc(heap, size, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		ksft_exit_fail_msg("allocating %zu bytes: %s\n", size, strerror(-fd));
	ksft_test_result(fcntl(fd, F_GETFD) == FD_CLOEXEC,
			 "the buffer's fd has FD_CLOEXEC as asked\n");

	fstat(fd, &st);
	ksft_test_result(bufinfo_lists(size, st.st_ino) == 1,
			 "bufinfo lists the buffer with exporter %s\n", EXPORTER);

	/* Two pages mapped from offset one page, one mapping of all three. */
	tail = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page);
	whole = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (tail == MAP_FAILED || whole == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s\n", strerror(errno));
	for (i = 0; i < 64; i++)
		tail[i] = 0xa0 + i;
	ok = 1;
	for (i = 0; i < 64; i++)
		ok &= whole[page + i] == 0xa0 + i && whole[i] == 0;
	ksft_test_result(ok, "mmap at a non-zero offset maps that part of the buffer\n");
	munmap(tail, 2 * page);
	munmap(whole, size);

	ksft_test_result(mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, 2 * page) ==
			 MAP_FAILED && errno == EINVAL,
			 "mmap past the end fails with EINVAL\n");
	ksft_test_result(mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 3 * page) ==
			 MAP_FAILED && errno == EINVAL,
			 "mmap at an offset beyond the size fails with EINVAL\n");

	close(fd);
	ksft_test_result(bufinfo_lists(size, st.st_ino) == 0,
			 "closing the last reference releases the buffer\n");

	ksft_test_result(heap_alloc(heap, 0, O_RDWR, 0) == -EINVAL,
			 "a zero length is refused with EINVAL\n");
	ksft_test_result(heap_alloc(heap, page, O_RDWR | O_NONBLOCK, 0) == -EINVAL,
			 "bad fd flags are refused with EINVAL\n");
	ksft_test_result(heap_alloc(heap, page, O_RDWR, 1) == -EINVAL,
			 "bad heap flags are refused with EINVAL\n");

	close(heap);
	ksft_finished();
}
