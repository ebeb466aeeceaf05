// SPDX-License-Identifier: MIT
/*
 * uaccess_test.c - the emulated kernel's reach into a caller's memory
 * (include/iodirty/uaccess.h): what a pin finds, page by page, as
 * pin_user_pages() would: a page that is not mapped, PROT_NONE, or (for a
 * write pin) read-only ends it, and a write pin leaves the bytes as they
 * were.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iodirty/uaccess.h>

#include "../harness/test.h"

enum { PG = 4096 };

/* Four pages: rw, rw, @third, rw; returns the first. */
static uint8_t *four_pages(int third)
{
	uint8_t *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	for (size_t i = 0; i < 4 * PG; i++)
		p[i] = (uint8_t)(i * 7);
	ASSERT_EQ(mprotect(p + 2 * PG, PG, third), 0);
	return p;
}

TEST(uaccess, pin_stops_at_first_unpinnable_page)
{
	static uint8_t buf[4 * PG];
	uint8_t *ro = four_pages(PROT_READ), *none = four_pages(PROT_NONE);
	uint64_t a = (uint64_t)(uintptr_t)ro;

	/* All of it readable: a read pin takes everything. */
	EXPECT_EQ(user_range_pin(buf, a + 100, 4 * PG - 100, false),
		  4 * PG - 100);
	EXPECT_MEMEQ(buf, ro + 100, 4 * PG - 100);
	/* A write pin ends where the read-only page starts. */
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(user_range_pin(buf, a + 100, 4 * PG - 100, true),
		  2 * PG - 100);
	EXPECT_MEMEQ(buf, ro + 100, 2 * PG - 100);
	/* ... and is nothing when it starts there. */
	EXPECT_EQ(user_range_pin(buf, a + 2 * PG + 8, 16, true), 0);
	/* PROT_NONE ends a read pin too; a range inside one page is whole. */
	a = (uint64_t)(uintptr_t)none;
	EXPECT_EQ(user_range_pin(buf, a + PG - 8, 2 * PG, false), PG + 8);
	EXPECT_EQ(user_range_pin(buf, a + 1, 10, true), 10);
	EXPECT_EQ(user_range_pin(buf, a, 0, true), 0);
	/* The write-back left the bytes as they were. */
	for (size_t i = 0; i < 2 * PG; i++) {
		if (none[i] != (uint8_t)(i * 7)) {
			test_fail_at(__FILE__, __LINE__, "byte %zu changed", i);
			break;
		}
	}
	munmap(ro, 4 * PG);
	munmap(none, 4 * PG);
}

TEST(uaccess, range_check_write_of_read_only_is_efault)
{
	uint8_t *ro = four_pages(PROT_READ);
	uint64_t a = (uint64_t)(uintptr_t)ro, bad = 0;

	EXPECT_EQ(user_range_check(a, 4 * PG, 0), 0);
	EXPECT_EQ(user_range_check_at(a, 4 * PG, 1, &bad), -EFAULT);
	EXPECT_EQ(bad, a + 2 * PG);
	EXPECT_EQ(user_range_check(a, 2 * PG, 1), 0);
	munmap(ro, 4 * PG);
}

TEST(uaccess, fault_in_finds_what_a_pin_finds)
{
	uint8_t *ro = four_pages(PROT_READ), *none = four_pages(PROT_NONE);
	uint8_t *fresh =
		mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t a = (uint64_t)(uintptr_t)ro;

	ASSERT_TRUE(fresh != MAP_FAILED);
	/* As user_range_pin() answers, without a buffer. */
	EXPECT_EQ(user_range_fault_in(a + 100, 4 * PG - 100, false),
		  4 * PG - 100);
	EXPECT_EQ(user_range_fault_in(a + 100, 4 * PG - 100, true),
		  2 * PG - 100);
	EXPECT_EQ(user_range_fault_in(a + 2 * PG + 8, 16, true), 0);
	EXPECT_EQ(user_range_fault_in(a + 3 * PG, PG, true), PG);
	a = (uint64_t)(uintptr_t)none;
	EXPECT_EQ(user_range_fault_in(a + PG - 8, 2 * PG, false), PG + 8);
	EXPECT_EQ(user_range_fault_in(a + 1, 10, true), 10);
	EXPECT_EQ(user_range_fault_in(a, 0, true), 0);
	/* Nothing there at all, and the top of the address space. */
	ASSERT_EQ(munmap(ro + 3 * PG, PG), 0);
	a = (uint64_t)(uintptr_t)ro;
	EXPECT_EQ(user_range_fault_in(a + 3 * PG - 1, 2, false), 1);
	EXPECT_EQ(user_range_fault_in(a + 3 * PG, 1, false), 0);
	EXPECT_EQ(user_range_fault_in(~0ULL - 15, 16, false), 0);
	EXPECT_EQ(user_range_fault_in(~0ULL - 15, 32, false), 0);
	/* Memory never touched is faulted in, as a pin would, and reads 0. */
	EXPECT_EQ(user_range_fault_in((uintptr_t)fresh + 5, 4 * PG - 5, true),
		  4 * PG - 5);
	for (size_t i = 0; i < 4 * PG; i++) {
		if (fresh[i]) {
			test_fail_at(__FILE__, __LINE__, "byte %zu not 0", i);
			break;
		}
	}
	/* Nothing was written. */
	for (size_t i = 0; i < 2 * PG; i++) {
		if (none[i] != (uint8_t)(i * 7) || ro[i] != (uint8_t)(i * 7)) {
			test_fail_at(__FILE__, __LINE__, "byte %zu changed", i);
			break;
		}
	}
	munmap(ro, 3 * PG);
	munmap(none, 4 * PG);
	munmap(fresh, 4 * PG);
}

/*
 * A child's copies reach the child's memory: the pid the copies name is
 * not the parent's, cached before the fork.
 */
TEST(uaccess, copies_in_a_forked_child_reach_the_child)
{
	static volatile uint64_t v = 1;
	uint64_t got = 0, three = 3;
	int status = -1;
	pid_t child;

	ASSERT_EQ(copy_from_user(&got, (uintptr_t)&v, sizeof(got)), 0);
	ASSERT_EQ(got, 1);
	child = fork();
	ASSERT_TRUE(child >= 0);
	if (!child) {
		v = 2;
		if (copy_from_user(&got, (uintptr_t)&v, sizeof(got)) ||
		    got != 2)
			_exit(1);
		if (copy_to_user((uintptr_t)&v, &three, sizeof(three)) ||
		    v != 3)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(waitpid(child, &status, 0), child);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	EXPECT_EQ(v, 1);
}
