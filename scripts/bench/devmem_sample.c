// SPDX-License-Identifier: GPL-2.0
/*
 * make profile, in the guest: where the kernel's time goes while 4 KiB
 * buffers are allocated and closed as fast as they can be, by sampling, not
 * tracing. Tracing charges every function call, and cannot show time spent
 * waiting for another CPU; a sample is one kernel call chain, taken every
 * tick of each CPU's clock, whatever the CPU is doing.
 *
 *   devmem_sample <heap> <threads> <seconds> <output>
 *
 * runs <threads> threads (each pinned to its own CPU if more than one) that
 * allocate a 4 KiB buffer from <heap> and close it, for <seconds>, while a
 * cpu-clock perf event on every online CPU samples kernel call chains. It
 * writes to <output> one line per kernel sample, its addresses innermost
 * first:
 *   sample <cpu> <addr> <addr> ...
 * then "ops <count>", "seconds <seconds>" and "lost <count>" (samples the
 * ring buffers dropped). Samples in user space are not recorded. The host
 * (scripts/profile-report.py) resolves the addresses with the guest's
 * /proc/kallsyms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "dma_heap_util.h"

#define MAX_CPUS	64
#define RING_PAGES	64	/* a power of two, as perf requires */
#define MAX_CHAIN	128
#define PERIOD_NS	1000000	/* 1 ms: the guest's clock may tick slower */

struct worker {
	int heap;
	int cpu;		/* pinned to it, or -1 */
	double end_us;
	long ops;
	int err;
};

struct ring {
	int fd;
	struct perf_event_mmap_page *meta;
	char *data;
	size_t size;
	__u64 tail;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void *churn(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;
	int fd;

	if (w->cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
			w->err = EINVAL;
			return NULL;
		}
	}
	while (now_us() < w->end_us) {
		fd = heap_alloc(w->heap, 4096, O_RDWR | O_CLOEXEC, 0);
		if (fd < 0) {
			w->err = -fd;
			break;
		}
		close(fd);
		w->ops++;
	}
	return NULL;
}

static int open_ring(struct ring *r, int cpu)
{
	struct perf_event_attr attr = {
		.size = sizeof(attr),
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = PERIOD_NS,
		.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN,
		.disabled = 1,
		.exclude_user = 1,
		.exclude_hv = 1,
		.exclude_callchain_user = 1,
	};

	r->fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->size = RING_PAGES * sysconf(_SC_PAGESIZE);
	r->meta = mmap(NULL, r->size + sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
		       MAP_SHARED, r->fd, 0);
	if (r->meta == MAP_FAILED)
		return -errno;
	r->data = (char *)r->meta + sysconf(_SC_PAGESIZE);
	r->tail = 0;
	return 0;
}

/* Writes out the ring's new records; returns how many samples were lost. */
static __u64 drain_ring(struct ring *r, int cpu, FILE *out)
{
	__u64 head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	__u64 record[4 + MAX_CHAIN], lost = 0, nr, i;
	struct perf_event_header *h;
	size_t off, first;

	while (r->tail < head) {
		off = r->tail % r->size;
		h = (struct perf_event_header *)(r->data + off);
		if (h->size > sizeof(record))
			goto next;	/* a chain deeper than MAX_CHAIN: skipped */
		/* A record may wrap around the end of the ring. */
		first = h->size < r->size - off ? h->size : r->size - off;
		memcpy(record, r->data + off, first);
		memcpy((char *)record + first, r->data, h->size - first);
		h = (struct perf_event_header *)record;
		if (h->type == PERF_RECORD_LOST) {
			lost += record[2];
		} else if (h->type == PERF_RECORD_SAMPLE) {
			/* header, ip, pid and tid, nr, the chain */
			nr = record[3];
			fprintf(out, "sample %d", cpu);
			for (i = 0; i < nr && 4 + i < h->size / 8; i++)
				/* Skip the context markers (PERF_CONTEXT_*). */
				if (record[4 + i] < (__u64)-4095)
					fprintf(out, " %llx", (unsigned long long)record[4 + i]);
			fputc('\n', out);
		}
next:
		r->tail += h->size;
	}
	__atomic_store_n(&r->meta->data_tail, r->tail, __ATOMIC_RELEASE);
	return lost;
}

int main(int argc, char **argv)
{
	struct worker workers[MAX_CPUS] = { 0 };
	pthread_t tids[MAX_CPUS];
	struct ring rings[MAX_CPUS];
	int cpus, threads, heap, c, t, err;
	__u64 lost = 0;
	char path[128];
	double seconds;
	long ops = 0;
	FILE *out;

	if (argc != 5)
		return fprintf(stderr, "usage: %s <heap> <threads> <seconds> <output>\n",
			       argv[0]), 2;
	threads = atoi(argv[2]);
	seconds = atof(argv[3]);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1 || threads > cpus || cpus > MAX_CPUS || seconds <= 0)
		return fprintf(stderr, "1 to %d threads, and some seconds\n", cpus), 2;
	snprintf(path, sizeof(path), "/dev/dma_heap/%s", argv[1]);
	heap = open(path, O_RDONLY | O_CLOEXEC);
	if (heap < 0)
		return perror(path), 1;
	out = fopen(argv[4], "w");
	if (!out)
		return perror(argv[4]), 1;
	for (c = 0; c < cpus; c++) {
		err = open_ring(&rings[c], c);
		if (err)
			return fprintf(stderr, "perf event on CPU %d: %s\n", c, strerror(-err)), 1;
	}
	for (c = 0; c < cpus; c++)
		ioctl(rings[c].fd, PERF_EVENT_IOC_ENABLE, 0);
	for (t = 0; t < threads; t++) {
		workers[t].heap = heap;
		workers[t].cpu = threads > 1 ? t : -1;
		workers[t].end_us = now_us() + seconds * 1e6;
		if (pthread_create(&tids[t], NULL, churn, &workers[t]))
			return fprintf(stderr, "cannot start thread %d\n", t), 1;
	}
	/* The rings are read while the workers run: they hold a few seconds' worth at most. */
	while (now_us() < workers[0].end_us) {
		usleep(20000);
		for (c = 0; c < cpus; c++)
			lost += drain_ring(&rings[c], c, out);
	}
	for (t = 0; t < threads; t++) {
		pthread_join(tids[t], NULL);
		if (workers[t].err)
			return fprintf(stderr, "%s: %s\n", argv[1], strerror(workers[t].err)), 1;
		ops += workers[t].ops;
	}
	for (c = 0; c < cpus; c++) {
		ioctl(rings[c].fd, PERF_EVENT_IOC_DISABLE, 0);
		lost += drain_ring(&rings[c], c, out);
	}
	fprintf(out, "ops %ld\nseconds %g\nlost %llu\n", ops, seconds, (unsigned long long)lost);
	return fclose(out) ? (perror(argv[4]), 1) : 0;
}
