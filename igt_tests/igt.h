/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The subset of IGT's test API (igt-gpu-tools, lib/igt_core.h) that the
 * project's IGT tests use, with IGT's names and semantics, so that the same
 * test sources build in IGT's own tree. Debian ships IGT's binaries and its
 * runner but not its headers or library sources; this header stands in.
 *
 * What a test binary does, as IGT's do for igt_runner:
 *   --list-subtests     prints the subtest names, one a line, and exits 0;
 *   --run-subtest PAT   runs the subtests matching PAT (globs, a comma
 *                       list, "!" negates; an unknown name exits 79);
 *   --describe[=PAT]    prints the subtests' igt_describe() texts;
 *   --debug             prints igt_debug() lines too.
 * Every subtest run prints "Starting subtest: NAME" and
 * "Subtest NAME: SUCCESS|SKIP|FAIL|CRASH (1.234s)"; the exit status is 0
 * if one succeeded and none failed, 77 if all skipped, 98 on a failure.
 * A skip (failure) in an igt_fixture skips (fails) every later subtest of
 * its igt_subtest_group, or of the whole test. igt_require(), igt_skip() and
 * igt_assert*() are for the main thread only, as in IGT.
 *
 * Each test is one translation unit: everything here is static.
 */
#ifndef DEVMEM_IGT_H
#define DEVMEM_IGT_H

/* IGT builds with _GNU_SOURCE; include this header first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

/*
 * Subtests run under sigsetjmp(), as in IGT: a local of the main body that
 * a subtest changes and a later one reads must be volatile. GCC's
 * -Wclobbered would flag every local of igt_main, so it is off here.
 */
#pragma GCC diagnostic ignored "-Wclobbered"

/* printf checking of the log functions; user space has no __printf. */
#define igt_gnu_attribute __attribute__
#define igt_printf(a, b) igt_gnu_attribute((format(printf, a, b)))
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define IGT_EXIT_SUCCESS	0
#define IGT_EXIT_SKIP		77
#define IGT_EXIT_TIMEOUT	78
#define IGT_EXIT_INVALID	79
#define IGT_EXIT_FAILURE	98
#define IGT_EXIT_ABORT		112

enum igt_log_level {
	IGT_LOG_DEBUG,
	IGT_LOG_INFO,
	IGT_LOG_WARN,
	IGT_LOG_CRITICAL,
};

/* Why the following subtests do not run: set by a fixture that skipped or failed. */
enum { IGT_HENCEFORTH_RUN, IGT_HENCEFORTH_SKIP, IGT_HENCEFORTH_FAIL };

#define IGT_LOG_RING	128

static struct {
	const char *name;		/* the program's name */
	const char *run_pattern;	/* --run-subtest */
	const char *describe_pattern;	/* --describe[=PAT] */
	int list, describe, debug;
	int pattern_found;
	int henceforth;
	int in_fixture;
	const char *in_subtest;
	char subtest[256];
	char description[1024];
	struct timespec started;
	int succeeded, skipped, failed;
	char *ring[IGT_LOG_RING];	/* the last log lines, dumped on failure */
	unsigned int ring_next;
} igt_state;

static sigjmp_buf igt_subtest_jmpbuf;

static inline double igt_time_elapsed(const struct timespec *then, const struct timespec *now)
{
	return (now->tv_sec - then->tv_sec) + (now->tv_nsec - then->tv_nsec) / 1e9;
}

static igt_printf(3, 0) void
igt_vlog(const char *domain, enum igt_log_level level, const char *format, va_list args)
{
	static const char * const names[] = { "DEBUG", "INFO", "WARNING", "CRITICAL" };
	char *line = NULL, *full = NULL;
	FILE *f = level >= IGT_LOG_WARN ? stderr : stdout;

	if (igt_state.list && level <= IGT_LOG_WARN)
		return;
	if (vasprintf(&line, format, args) < 0)
		return;
	if (asprintf(&full, "(%s:%d) %s%s%s: %s", igt_state.name, getpid(), domain ?: "",
		     domain ? "-" : "", names[level], line) >= 0) {
		free(igt_state.ring[igt_state.ring_next % IGT_LOG_RING]);
		igt_state.ring[igt_state.ring_next++ % IGT_LOG_RING] = full;
	}
	if (level > IGT_LOG_DEBUG || igt_state.debug) {
		fflush(stdout);
		fputs(level == IGT_LOG_INFO ? line : full ?: line, f);
		fflush(f);
	}
	free(line);
}

static igt_printf(3, 4) void
igt_log(const char *domain, enum igt_log_level level, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	igt_vlog(domain, level, format, args);
	va_end(args);
}

#define igt_debug(f...)		igt_log(NULL, IGT_LOG_DEBUG, f)
#define igt_info(f...)		igt_log(NULL, IGT_LOG_INFO, f)
#define igt_warn(f...)		igt_log(NULL, IGT_LOG_WARN, f)
#define igt_critical(f...)	igt_log(NULL, IGT_LOG_CRITICAL, f)

/* A line for the kernel log, so that igt_runner can tell whose dmesg it is. */
static igt_printf(1, 2) void igt_kmsg(const char *format, ...)
{
	FILE *f = fopen("/dev/kmsg", "w");
	va_list args;

	if (!f)
		return;
	va_start(args, format);
	vfprintf(f, format, args);
	va_end(args);
	fclose(f);
}

static void igt_log_ring_dump(void)
{
	unsigned int i = igt_state.ring_next > IGT_LOG_RING ?
			 igt_state.ring_next - IGT_LOG_RING : 0;

	fflush(stdout);
	fprintf(stderr, "**** DEBUG ****\n");
	for (; i < igt_state.ring_next; i++)
		fputs(igt_state.ring[i % IGT_LOG_RING], stderr);
	fprintf(stderr, "****  END  ****\n");
	fflush(stderr);
}

static void igt_log_ring_reset(void)
{
	unsigned int i;

	for (i = 0; i < IGT_LOG_RING; i++) {
		free(igt_state.ring[i]);
		igt_state.ring[i] = NULL;
	}
	igt_state.ring_next = 0;
}

/* IGT's uwildmat: comma-separated globs, "!" negates, the last match decides. */
static int igt_pattern_match(const char *name, const char *patterns)
{
	char *list = strdup(patterns), *save = NULL, *p;
	int match = 0;

	for (p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		int neg = p[0] == '!';

		if (!fnmatch(p + neg, name, 0))
			match = !neg;
	}
	free(list);
	return match;
}

static void igt_print_subtest_result(const char *name, const char *result, double secs)
{
	fflush(stderr);
	printf("Subtest %s: %s (%.3fs)\n", name, result, secs);
	fflush(stdout);
	igt_kmsg("<6>[IGT] %s: finished subtest %s, %s\n", igt_state.name, name, result);
}

static noreturn void igt_exit(void)
{
	int code = IGT_EXIT_SUCCESS;

	if (igt_state.run_pattern && !igt_state.pattern_found) {
		igt_critical("Unknown subtest: %s\n", igt_state.run_pattern);
		exit(IGT_EXIT_INVALID);
	}
	if (igt_state.list || igt_state.describe)
		exit(IGT_EXIT_SUCCESS);
	if (igt_state.failed)
		code = IGT_EXIT_FAILURE;
	else if (!igt_state.succeeded)
		code = IGT_EXIT_SKIP;
	igt_kmsg("<6>[IGT] %s: exiting, ret=%d\n", igt_state.name, code);
	exit(code);
}

static noreturn void igt_exit_subtest(const char *result)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	igt_print_subtest_result(igt_state.in_subtest, result,
				 igt_time_elapsed(&igt_state.started, &now));
	igt_state.in_subtest = NULL;
	siglongjmp(igt_subtest_jmpbuf, 1);
}

/* Ends a fixture early; the following subtests then report @henceforth. */
static noreturn void igt_end_fixture(int henceforth)
{
	igt_state.henceforth = henceforth;
	igt_state.in_fixture = 0;
	siglongjmp(igt_subtest_jmpbuf, 1);
}

static void igt_success(void)
{
	if (igt_state.in_subtest) {
		igt_state.succeeded++;
		igt_exit_subtest("SUCCESS");
	}
}

static noreturn void igt_fail(int exitcode)
{
	(void)exitcode;
	igt_state.failed++;
	igt_log_ring_dump();
	if (igt_state.in_subtest)
		igt_exit_subtest("FAIL");
	if (igt_state.in_fixture)
		igt_end_fixture(IGT_HENCEFORTH_FAIL);
	igt_exit();
}

static noreturn igt_printf(1, 2) void igt_skip(const char *f, ...)
{
	va_list args;

	if (!igt_state.list) {
		va_start(args, f);
		vprintf(f, args);
		va_end(args);
	}
	igt_state.skipped++;
	if (igt_state.in_subtest)
		igt_exit_subtest("SKIP");
	if (igt_state.in_fixture)
		igt_end_fixture(IGT_HENCEFORTH_SKIP);
	igt_exit();
}

static noreturn igt_printf(5, 6) void
__igt_skip_check(const char *file, int line, const char *func, const char *check,
		 const char *f, ...)
{
	char buf[1024] = "";
	int err = errno;
	va_list args;

	if (f) {
		va_start(args, f);
		vsnprintf(buf, sizeof(buf), f, args);
		va_end(args);
	}
	if (err)
		igt_skip("Test requirement not met in function %s, file %s:%i:\n"
			 "Test requirement: %s\n%sLast errno: %i, %s\n",
			 func, file, line, check, buf, err, strerror(err));
	igt_skip("Test requirement not met in function %s, file %s:%i:\n"
		 "Test requirement: %s\n%s", func, file, line, check, buf);
}

static noreturn igt_printf(5, 6) void
__igt_fail_assert(const char *file, int line, const char *func, const char *assertion,
		  const char *f, ...)
{
	int err = errno;
	va_list args;

	igt_critical("Test assertion failure function %s, file %s:%i:\n", func, file, line);
	igt_critical("Failed assertion: %s\n", assertion);
	if (err)
		igt_critical("Last errno: %i, %s\n", err, strerror(err));
	if (f) {
		va_start(args, f);
		igt_vlog(NULL, IGT_LOG_CRITICAL, f, args);
		va_end(args);
	}
	igt_fail(IGT_EXIT_FAILURE);
}

/* A crash inside a subtest is its result: CRASH, as IGT reports it. */
static void igt_fatal_signal(int sig)
{
	struct timespec now;
	char msg[320];
	int n;

	if (igt_state.in_subtest) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		n = snprintf(msg, sizeof(msg), "Received signal %s.\nSubtest %s: CRASH (%.3fs)\n",
			     strsignal(sig), igt_state.in_subtest,
			     igt_time_elapsed(&igt_state.started, &now));
		if (write(STDOUT_FILENO, msg, n) < 0)
			n = 0;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int igt_run_subtest(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		if (name[i] != '_' && name[i] != '-' &&
		    !(name[i] >= '0' && name[i] <= '9') &&
		    !((name[i] | 0x20) >= 'a' && (name[i] | 0x20) <= 'z')) {
			igt_critical("Invalid subtest name \"%s\".\n", name);
			igt_exit();
		}
	}
	if (igt_state.run_pattern) {
		if (!igt_pattern_match(name, igt_state.run_pattern)) {
			igt_state.description[0] = 0;
			return 0;
		}
		igt_state.pattern_found = 1;
	}
	if (igt_state.describe) {
		if (!igt_state.describe_pattern ||
		    igt_pattern_match(name, igt_state.describe_pattern))
			printf("SUB %s:\n  %s\n\n", name, igt_state.description[0] ?
			       igt_state.description : "NO DOCUMENTATION!");
		igt_state.description[0] = 0;
		return 0;
	}
	igt_state.description[0] = 0;
	if (igt_state.list) {
		printf("%s\n", name);
		return 0;
	}
	if (igt_state.henceforth) {
		if (igt_state.henceforth == IGT_HENCEFORTH_SKIP)
			igt_state.skipped++;
		igt_print_subtest_result(name, igt_state.henceforth == IGT_HENCEFORTH_SKIP ?
					 "SKIP" : "FAIL", 0.0);
		return 0;
	}
	snprintf(igt_state.subtest, sizeof(igt_state.subtest), "%s", name);
	igt_kmsg("<6>[IGT] %s: starting subtest %s\n", igt_state.name, name);
	printf("Starting subtest: %s\n", name);
	fflush(stdout);
	igt_log_ring_reset();
	clock_gettime(CLOCK_MONOTONIC, &igt_state.started);
	igt_state.in_subtest = igt_state.subtest;
	return 1;
}

static int igt_run_fixture(void)
{
	if (igt_state.list || igt_state.describe || igt_state.henceforth)
		return 0;
	igt_state.in_fixture = 1;
	return 1;
}

static void igt_fixture_done(void)
{
	igt_state.in_fixture = 0;
}

static igt_printf(1, 2) void igt_describe_f(const char *format, ...)
{
	va_list args;

	va_start(args, format);
	vsnprintf(igt_state.description, sizeof(igt_state.description), format, args);
	va_end(args);
}

static inline int igt_only_list_subtests(void)
{
	return igt_state.list;
}

static void igt_subtest_init_parse_opts(int argc, char **argv)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	struct utsname uts;
	int i;

	igt_state.name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list-subtests")) {
			igt_state.list = 1;
		} else if (!strcmp(argv[i], "--run-subtest") && i + 1 < argc) {
			igt_state.run_pattern = argv[++i];
		} else if (!strncmp(argv[i], "--run-subtest=", 14)) {
			igt_state.run_pattern = argv[i] + 14;
		} else if (!strcmp(argv[i], "--describe")) {
			igt_state.describe = 1;
		} else if (!strncmp(argv[i], "--describe=", 11)) {
			igt_state.describe = 1;
			igt_state.describe_pattern = argv[i] + 11;
		} else if (!strncmp(argv[i], "--debug", 7)) {
			igt_state.debug = 1;
		} else {
			int help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");

			fprintf(help ? stdout : stderr,
				"Usage: %s [OPTIONS]\n  --list-subtests\n"
				"  --run-subtest <pattern>\n  --describe[=pattern]\n"
				"  --debug\n  --help|-h\n", igt_state.name);
			exit(help ? IGT_EXIT_SUCCESS : IGT_EXIT_INVALID);
		}
	}
	if (igt_state.list || igt_state.describe)
		return;
	for (i = 0; i < (int)ARRAY_SIZE(fatal); i++)
		signal(fatal[i], igt_fatal_signal);
	uname(&uts);
	igt_info("IGT-Version: devmem-heap-igt.h (%s) (%s: %s %s)\n", uts.machine,
		 uts.sysname, uts.release, uts.machine);
}

#define igt_tokencat2(x, y) x ## y
#define igt_tokencat(x, y) igt_tokencat2(x, y)
#define igt_unique(prefix) igt_tokencat(prefix, __LINE__)

#define igt_main \
	static void igt_unique(__real_main)(void); \
	int main(int argc, char **argv) \
	{ \
		igt_subtest_init_parse_opts(argc, argv); \
		igt_unique(__real_main)(); \
		igt_exit(); \
	} \
	static void igt_unique(__real_main)(void)

#define igt_fixture \
	for (int igt_unique(__tmpint) = 0; \
	     igt_unique(__tmpint) < 1 && igt_run_fixture() && \
	     (sigsetjmp(igt_subtest_jmpbuf, 1) == 0); \
	     igt_unique(__tmpint)++, igt_fixture_done())

#define igt_subtest(name) \
	for (; igt_run_subtest((name)) && (sigsetjmp(igt_subtest_jmpbuf, 1) == 0); \
	     igt_success())

#define igt_subtest_f(f...) \
	for (char igt_unique(__name)[256]; \
	     snprintf(igt_unique(__name), sizeof(igt_unique(__name)), f), \
	     igt_run_subtest(igt_unique(__name)) && \
	     (sigsetjmp(igt_subtest_jmpbuf, 1) == 0); \
	     igt_success())

/* A skip or failure in a fixture inside the group ends at the group's end. */
#define igt_subtest_group \
	for (int igt_unique(__tmpint) = 0, igt_unique(__save) = igt_state.henceforth; \
	     igt_unique(__tmpint) < 1; \
	     igt_unique(__tmpint)++, igt_state.henceforth = igt_unique(__save))

#define igt_describe(dsc)	igt_describe_f("%s", dsc)

#define igt_assert(expr) do { \
	if (!(expr)) \
		__igt_fail_assert(__FILE__, __LINE__, __func__, #expr, NULL); \
} while (0)

#define igt_assert_f(expr, f...) do { \
	if (!(expr)) \
		__igt_fail_assert(__FILE__, __LINE__, __func__, #expr, f); \
} while (0)

#define igt_fail_on(expr)	igt_assert(!(expr))
#define igt_fail_on_f(expr, f...) igt_assert_f(!(expr), f)

#define igt_assert_cmpint(n1, cmp, ncmp, n2) do { \
	int __n1 = (n1), __n2 = (n2); \
	if (!(__n1 cmp __n2)) \
		__igt_fail_assert(__FILE__, __LINE__, __func__, #n1 " " #cmp " " #n2, \
				  "error: %d " #ncmp " %d\n", __n1, __n2); \
} while (0)

#define igt_assert_cmpuint(n1, cmp, ncmp, n2) do { \
	unsigned int __n1 = (n1), __n2 = (n2); \
	if (!(__n1 cmp __n2)) \
		__igt_fail_assert(__FILE__, __LINE__, __func__, #n1 " " #cmp " " #n2, \
				  "error: %#x " #ncmp " %#x\n", __n1, __n2); \
} while (0)

#define igt_assert_cmpu64(n1, cmp, ncmp, n2) do { \
	unsigned long long __n1 = (n1), __n2 = (n2); \
	if (!(__n1 cmp __n2)) \
		__igt_fail_assert(__FILE__, __LINE__, __func__, #n1 " " #cmp " " #n2, \
				  "error: %#llx " #ncmp " %#llx\n", \
				  (unsigned long long)__n1, (unsigned long long)__n2); \
} while (0)

#define igt_assert_eq(n1, n2)		igt_assert_cmpint(n1, ==, !=, n2)
#define igt_assert_neq(n1, n2)		igt_assert_cmpint(n1, !=, ==, n2)
#define igt_assert_lte(n1, n2)		igt_assert_cmpint(n1, <=, >, n2)
#define igt_assert_lt(n1, n2)		igt_assert_cmpint(n1, <, >=, n2)
#define igt_assert_eq_u32(n1, n2)	igt_assert_cmpuint(n1, ==, !=, n2)
#define igt_assert_neq_u32(n1, n2)	igt_assert_cmpuint(n1, !=, ==, n2)
#define igt_assert_eq_u64(n1, n2)	igt_assert_cmpu64(n1, ==, !=, n2)
#define igt_assert_lte_u64(n1, n2)	igt_assert_cmpu64(n1, <=, >, n2)
#define igt_assert_fd(fd)		igt_assert_f((fd) >= 0, "file descriptor " #fd " failed\n")

#define igt_require(expr) do { \
	if (!(expr)) \
		__igt_skip_check(__FILE__, __LINE__, __func__, #expr, NULL); \
	else \
		igt_debug("Test requirement passed: %s\n", #expr); \
} while (0)

#define igt_require_f(expr, f...) do { \
	if (!(expr)) \
		__igt_skip_check(__FILE__, __LINE__, __func__, #expr, f); \
	else \
		igt_debug("Test requirement passed: %s\n", #expr); \
} while (0)

#define igt_skip_on(expr) do { \
	if ((expr)) \
		__igt_skip_check(__FILE__, __LINE__, __func__, "!(" #expr ")", NULL); \
} while (0)

#define igt_skip_on_f(expr, f...) do { \
	if ((expr)) \
		__igt_skip_check(__FILE__, __LINE__, __func__, "!(" #expr ")", f); \
} while (0)

#endif /* DEVMEM_IGT_H */
