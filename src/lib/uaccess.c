// SPDX-License-Identifier: MIT
/*
 * uaccess.c - copy_{from,to}_user, user-range checks and pins for the
 * emulated kernel, safe against any address a caller passes (uaccess.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <iodirty/uaccess.h>

/* Since Linux 4.14; the value is the ABI's. */
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* Since Linux 5.14; the values are the ABI's. */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Pins are taken whole pages at a time (x86-64 base pages). */
enum { USER_PAGE_SIZE = 4096 };

/*
 * This process's pid, which every process_vm_*() call names: glibc no
 * longer caches getpid(), and on this project's machines that system call
 * costs a quarter of a small copy. Like the kernel's own idea of who is
 * calling, it is process-wide. It is kept in a page the kernel zeroes in a
 * child at fork (MADV_WIPEONFORK), so a child, however forked (fork(),
 * _Fork(), a raw clone), asks again and never copies with its parent's pid;
 * a vfork or CLONE_VM child shares its parent's memory, which the parent's
 * pid names. Without that page (before Linux 4.14), nothing is cached.
 */
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static _Atomic pid_t *self_cache;

static void self_init(void)
{
	void *p = mmap(NULL, USER_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	if (madvise(p, USER_PAGE_SIZE, MADV_WIPEONFORK)) {
		munmap(p, USER_PAGE_SIZE);
		return;
	}
	self_cache = p;
}

static pid_t self_pid(void)
{
	pid_t pid;

	pthread_once(&self_once, self_init);
	if (!self_cache)
		return getpid();
	/* Racing first callers store the same value. */
	pid = atomic_load_explicit(self_cache, memory_order_relaxed);
	if (!pid) {
		pid = getpid();
		atomic_store_explicit(self_cache, pid, memory_order_relaxed);
	}
	return pid;
}

static int vm_copy(void *local, uint64_t remote, size_t n, int write)
{
	struct iovec l = { .iov_base = local, .iov_len = n };
	struct iovec r = { .iov_base = (void *)(uintptr_t)remote, .iov_len = n };
	pid_t self = self_pid();
	ssize_t done;

	while (n) {
		done = write ? process_vm_writev(self, &l, 1, &r, 1, 0) :
			       process_vm_readv(self, &l, 1, &r, 1, 0);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return -EFAULT;
		n -= (size_t)done;
		l.iov_base = (char *)l.iov_base + done;
		l.iov_len = n;
		r.iov_base = (char *)r.iov_base + done;
		r.iov_len = n;
	}
	return 0;
}

int copy_from_user(void *dst, uint64_t src, size_t n)
{
	if (!n)
		return 0;
	return vm_copy(dst, src, n, 0);
}

int copy_to_user(uint64_t dst, const void *src, size_t n)
{
	if (!n)
		return 0;
	return vm_copy((void *)(uintptr_t)src, dst, n, 1);
}

int clear_user(uint64_t dst, size_t n)
{
	static const char zeros[4096];

	while (n) {
		size_t c = n < sizeof(zeros) ? n : sizeof(zeros);

		if (copy_to_user(dst, zeros, c))
			return -EFAULT;
		dst += c;
		n -= c;
	}
	return 0;
}

int user_range_check_at(uint64_t addr, uint64_t len, int write,
			uint64_t *bad)
{
	uint64_t cur = addr, end;
	char line[512];
	int rc = -EFAULT;
	FILE *f;

	if (!len)
		return 0;
	if (__builtin_add_overflow(addr, len, &end)) {
		/* Nothing is mapped at the top of the address space. */
		end = UINT64_MAX;
	}
	f = fopen("/proc/self/maps", "re");
	if (!f) {
		*bad = addr;
		return -EFAULT;
	}
	/* Entries are sorted; walk them while they cover [cur, end). */
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
			continue;
		if (hi <= cur)
			continue;
		if (lo > cur)
			break;
		if (perms[0] != 'r' && perms[1] != 'w')
			break;
		/* FOLL_WRITE on a VMA without VM_WRITE: -EFAULT. */
		if (write && perms[1] != 'w')
			break;
		cur = hi;
		if (cur >= end) {
			rc = 0;
			break;
		}
	}
	fclose(f);
	if (rc)
		*bad = cur;
	return rc;
}

int user_range_check(uint64_t addr, uint64_t len, int write)
{
	uint64_t bad;

	return user_range_check_at(addr, len, write, &bad);
}

size_t user_range_pin(void *buf, uint64_t addr, size_t n, bool write)
{
	uint64_t end, cur = addr;
	char *p = buf;

	if (!n)
		return 0;
	/* The whole range at once; page by page only to find where it ends. */
	if (!vm_copy(buf, addr, n, 0) && (!write || !vm_copy(buf, addr, n, 1)))
		return n;
	if (__builtin_add_overflow(addr, n, &end))
		end = UINT64_MAX;
	while (cur < end) {
		uint64_t next = (cur | (USER_PAGE_SIZE - 1)) + 1;
		size_t len = (size_t)((next && next < end ? next : end) - cur);

		if (vm_copy(p, cur, len, 0) ||
		    (write && vm_copy(p, cur, len, 1)))
			break;
		p += len;
		cur += len;
	}
	return (size_t)(cur - addr);
}

/*
 * Fault the pages of [addr, end) in, as a pin would: 0, or -1 when the
 * kernel refuses any of it (not mapped, PROT_NONE, read-only for @write,
 * SIGBUS, no MADV_POPULATE_*) without saying where.
 */
static int populate(uint64_t addr, uint64_t end, bool write)
{
	uint64_t start = addr & ~(uint64_t)(USER_PAGE_SIZE - 1);
	int rc;

	do {
		rc = madvise((void *)(uintptr_t)start, (size_t)(end - start),
			     write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
	} while (rc && errno == EINTR);
	return rc;
}

size_t user_range_fault_in(uint64_t addr, size_t n, bool write)
{
	uint64_t end, cur = addr;
	char byte;

	if (!n)
		return 0;
	if (__builtin_add_overflow(addr, n, &end))
		end = UINT64_MAX;
	if (end - addr == n && !populate(addr, end, write))
		return n;
	/*
	 * Where it ends, one page at a time. A page the kernel will not fault
	 * in is tried once more the way user_range_pin() tries it (a byte
	 * read and, for @write, written back), which settles it on a kernel
	 * without MADV_POPULATE_*; on one with it, that page is a bad one.
	 */
	while (cur < end) {
		uint64_t next = (cur | (USER_PAGE_SIZE - 1)) + 1;

		if (populate(cur, cur + 1, write) &&
		    (vm_copy(&byte, cur, 1, 0) ||
		     (write && vm_copy(&byte, cur, 1, 1))))
			break;
		if (!next || next >= end) {
			cur = end;
			break;
		}
		cur = next;
	}
	return (size_t)(cur - addr);
}

static int ua_read(void *opaque, void *dst, uint64_t src, size_t n)
{
	(void)opaque;
	return copy_from_user(dst, src, n);
}

static int ua_write(void *opaque, uint64_t dst, const void *src, size_t n)
{
	(void)opaque;
	return copy_to_user(dst, src, n);
}

const struct uaccess uaccess_user = {
	.read = ua_read,
	.write = ua_write,
};
