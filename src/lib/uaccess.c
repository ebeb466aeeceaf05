// SPDX-License-Identifier: MIT
/*
 * uaccess.c - copy_{from,to}_user and user-range checks for the emulated
 * kernel, safe against any address a caller passes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <iodirty/uaccess.h>

static int vm_copy(void *local, uint64_t remote, size_t n, int write)
{
	struct iovec l = { .iov_base = local, .iov_len = n };
	struct iovec r = { .iov_base = (void *)(uintptr_t)remote, .iov_len = n };
	ssize_t done;

	while (n) {
		done = write ? process_vm_writev(getpid(), &l, 1, &r, 1, 0) :
			       process_vm_readv(getpid(), &l, 1, &r, 1, 0);
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
		if (write && perms[1] != 'w') {
			rc = -EPERM;
			break;
		}
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
