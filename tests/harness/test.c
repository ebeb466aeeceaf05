// SPDX-License-Identifier: MIT
/*
 * test.c - the runner: every registered test (and each of its variants) in a
 * child process, with a timeout; a summary line last.
 *
 * Usage: iodirty-test [--filter GLOB] [--list] [--no-fork] [--timeout SEC]
 * GLOB matches "suite.name/variant" (fnmatch). IODIRTY_TEST_SEED fixes the
 * seed of randomised tests; the seed in use is printed when one fails.
 */
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

enum { EXIT_SKIP = 77 };

static struct test_case *tests, **tests_tail = &tests;
static int failures;		/* in the child: EXPECT failures so far */
static const char *current;	/* in the child: "suite.name/variant" */
static uint64_t seed;

void test_register(struct test_case *tc)
{
	*tests_tail = tc;
	tests_tail = &tc->next;
}

void test_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

void test_abort(void)
{
	fflush(NULL);
	_exit(1);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "  skip reason: ");
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(NULL);
	_exit(EXIT_SKIP);
}

uint64_t test_seed(void)
{
	return seed;
}

uint64_t test_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

static void run_in_child(const struct test_case *tc, const void *variant)
{
	const char *env = getenv("IODIRTY_TEST_SEED");

	seed = env ? strtoull(env, NULL, 0) : fnv1a(current);
	failures = 0;
	tc->fn(variant);
	fflush(NULL);
	if (failures && !env)
		fprintf(stderr, "  (seed %" PRIu64 ": IODIRTY_TEST_SEED=%" PRIu64 " to repeat)\n",
			seed, seed);
	_exit(failures ? 1 : 0);
}

enum result { PASS, FAIL, SKIPPED };

static enum result run_one(const struct test_case *tc, const void *variant,
			   bool fork_each, unsigned int timeout)
{
	struct timespec t0, t1;
	int status;
	pid_t pid;

	if (!fork_each) {
		const char *env = getenv("IODIRTY_TEST_SEED");

		seed = env ? strtoull(env, NULL, 0) : fnv1a(current);
		failures = 0;
		tc->fn(variant);
		return failures ? FAIL : PASS;
	}
	fflush(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return FAIL;
	}
	if (!pid) {
		alarm(timeout);
		run_in_child(tc, variant);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return PASS;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIP)
		return SKIPPED;
	if (WIFSIGNALED(status))
		fprintf(stderr, "  killed by signal %d (%s)%s\n",
			WTERMSIG(status), strsignal(WTERMSIG(status)),
			WTERMSIG(status) == SIGALRM ? ": timed out" : "");
	return FAIL;
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	bool list = false, fork_each = true;
	unsigned int timeout = 600, npass = 0, nfail = 0, nskip = 0;
	char name[256];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
			filter = argv[++i];
		} else if (!strcmp(argv[i], "--list")) {
			list = true;
		} else if (!strcmp(argv[i], "--no-fork")) {
			fork_each = false;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = (unsigned int)strtoul(argv[++i], NULL, 0);
		} else {
			fprintf(stderr,
				"usage: %s [--filter GLOB] [--list] [--no-fork] [--timeout SEC]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (const struct test_case *tc = tests; tc; tc = tc->next) {
		size_t n = tc->variants ? tc->nvariants : 1;

		for (size_t i = 0; i < n; i++) {
			const void *v = tc->variants ?
				(const char *)tc->variants + i * tc->variant_size : NULL;
			enum result r;

			if (v)
				snprintf(name, sizeof(name), "%s.%s/%s", tc->suite,
					 tc->name, *(const char *const *)v);
			else
				snprintf(name, sizeof(name), "%s.%s", tc->suite,
					 tc->name);
			if (filter && fnmatch(filter, name, 0))
				continue;
			if (list) {
				printf("%s\n", name);
				continue;
			}
			current = name;
			r = run_one(tc, v, fork_each, timeout);
			switch (r) {
			case PASS:
				npass++;
				printf("ok      %s\n", name);
				break;
			case SKIPPED:
				nskip++;
				printf("skip    %s\n", name);
				break;
			case FAIL:
				nfail++;
				printf("FAIL    %s\n", name);
				break;
			}
		}
	}
	if (list)
		return 0;
	printf("%u passed, %u failed, %u skipped\n", npass, nfail, nskip);
	return nfail ? 1 : 0;
}
