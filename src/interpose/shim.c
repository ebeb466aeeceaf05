// SPDX-License-Identifier: MIT
/*
 * shim.c - the libc entry points a program reaches the kernel through, for
 * the device nodes the emulated host answers: open/openat (and their
 * _FORTIFY and 64-bit names), close, close_range, closefrom, dup/dup2/dup3,
 * fcntl(F_DUPFD*), ioctl,
 * mmap, pread/pwrite, read/write. Everything else, and every fd that is not an
 * emulated file, goes to the real system call untouched.
 *
 * An emulated file gets a real fd (a memfd), so fd numbers never collide and
 * select/poll/close-on-exec behave; the table maps that fd to the file. The
 * emulated kernel returns -errno; this file is the one place where that
 * becomes -1 and errno.
 *
 * fork(): the child gets a copy of the emulated state with its memory, so a
 * file inherited across fork is a copy, not shared as in the kernel; a
 * child that opens its own /dev/iommu gets its own context, as in Linux.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <iodirty/interpose.h>

#include "interpose_private.h"

enum { FDTAB_SIZE = 1 << 16 };

static pthread_mutex_t shim_lock = PTHREAD_MUTEX_INITIALIZER;
static struct emu_file *_Atomic *fdtab;	/* NULL until the first emulated open */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void shim_prepare(void)
{
	pthread_mutex_lock(&shim_lock);
}

static void shim_parent(void)
{
	pthread_mutex_unlock(&shim_lock);
}

static void shim_child(void)
{
	pthread_mutex_init(&shim_lock, NULL);
}

static void register_atfork(void)
{
	pthread_atfork(shim_prepare, shim_parent, shim_child);
}

static long sys_ret(long rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

/* Take a reference on the emulated file behind @fd, or NULL. */
static struct emu_file *file_get(int fd)
{
	struct emu_file *f;

	if (!fdtab || fd < 0 || fd >= FDTAB_SIZE ||
	    !atomic_load_explicit(&fdtab[fd], memory_order_acquire))
		return NULL;
	pthread_mutex_lock(&shim_lock);
	f = atomic_load(&fdtab[fd]);
	if (f)
		f->refs++;
	pthread_mutex_unlock(&shim_lock);
	return f;
}

static void file_put(struct emu_file *f)
{
	unsigned int refs;

	pthread_mutex_lock(&shim_lock);
	refs = --f->refs;
	pthread_mutex_unlock(&shim_lock);
	if (!refs) {
		if (f->fops->release)
			f->fops->release(f);
		free(f);
	}
}

/* Point @fd at @f (a new reference), dropping what it pointed at. */
static void fd_set_file(int fd, struct emu_file *f)
{
	struct emu_file *old;

	pthread_mutex_lock(&shim_lock);
	if (f)
		f->refs++;
	old = atomic_exchange(&fdtab[fd], f);
	pthread_mutex_unlock(&shim_lock);
	if (old)
		file_put(old);
}

static int fdtab_init(void)
{
	struct emu_file *_Atomic *tab;

	pthread_once(&atfork_once, register_atfork);
	if (fdtab)
		return 0;
	tab = calloc(FDTAB_SIZE, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	pthread_mutex_lock(&shim_lock);
	if (!fdtab)
		fdtab = tab;
	else
		free(tab);
	pthread_mutex_unlock(&shim_lock);
	return 0;
}

struct emu_file *emu_fd_get(int fd, const struct emu_fops *fops)
{
	struct emu_file *f = file_get(fd);

	if (f && fops && f->fops != fops) {
		file_put(f);
		return NULL;
	}
	return f;
}

void emu_file_put(struct emu_file *f)
{
	file_put(f);
}

int emu_fd_install(const struct emu_fops *fops, void *priv, int flags)
{
	struct emu_file *f;
	int fd, rc;

	rc = fdtab_init();
	if (rc)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	fd = (int)syscall(SYS_memfd_create, fops->name,
			  (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (fd < 0) {
		rc = -errno;
		free(f);
		return rc;
	}
	if (fd >= FDTAB_SIZE) {
		syscall(SYS_close, fd);
		free(f);
		return -EMFILE;
	}
	f->fops = fops;
	f->priv = priv;
	f->flags = flags;
	fd_set_file(fd, f);
	return fd;
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	const struct emu_node *node = NULL;

	unsigned int index;

	if (path && path[0] == '/')
		node = emu_node_find(path, &index);
	if (node)
		return (int)sys_ret(node->open(index, flags));
	return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

static mode_t open_mode(int flags, va_list ap)
{
	if (flags & (O_CREAT | __O_TMPFILE))
		return (mode_t)va_arg(ap, int);
	return 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return do_openat(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return do_openat(AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return do_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return do_openat(dirfd, path, flags, mode);
}

/* The _FORTIFY_SOURCE entry points (no mode argument). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

int __open_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags)
{
	return do_openat(AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
	return do_openat(dirfd, path, flags, 0);
}

/*
 * Forget the emulated files at fds [@first, @last], before the real close:
 * while the fd is still open nobody else can be given its number, so a file
 * installed there meanwhile is never dropped.
 */
static void fd_release_range(unsigned int first, unsigned int last)
{
	unsigned int fd;

	if (!fdtab || first >= FDTAB_SIZE)
		return;
	if (last >= FDTAB_SIZE)
		last = FDTAB_SIZE - 1;
	for (fd = first; fd <= last; fd++)
		if (atomic_load_explicit(&fdtab[fd], memory_order_acquire))
			fd_set_file((int)fd, NULL);
}

int close(int fd)
{
	if (fd >= 0)
		fd_release_range((unsigned int)fd, (unsigned int)fd);
	return (int)syscall(SYS_close, fd);
}

/*
 * close_range(2): the kernel refuses unknown flags and first > last
 * (EINVAL) before closing anything; CLOSE_RANGE_CLOEXEC only marks the fds.
 */
int close_range(unsigned int first, unsigned int last, int flags)
{
	if (!(flags & ~CLOSE_RANGE_UNSHARE) && first <= last)
		fd_release_range(first, last);
	return (int)syscall(SYS_close_range, first, last, flags);
}

/* closefrom(3), as glibc: close_range() to the end, else one by one. */
void closefrom(int lowfd)
{
	long fd, max = sysconf(_SC_OPEN_MAX);

	if (lowfd < 0)
		lowfd = 0;
	fd_release_range((unsigned int)lowfd, ~0U);
	if (!syscall(SYS_close_range, lowfd, ~0U, 0))
		return;
	for (fd = lowfd; fd < max; fd++)
		syscall(SYS_close, fd);
}

/* After a real dup of @oldfd to @newfd, make @newfd the same file. */
static int dup_follow(int oldfd, int newfd)
{
	struct emu_file *f;

	if (newfd < 0 || !fdtab || newfd >= FDTAB_SIZE)
		return newfd;
	f = file_get(oldfd);
	fd_set_file(newfd, f);
	if (f)
		file_put(f);
	return newfd;
}

int dup(int oldfd)
{
	return dup_follow(oldfd, (int)syscall(SYS_dup, oldfd));
}

int dup2(int oldfd, int newfd)
{
	int rc;

	if (oldfd == newfd)
		return (int)syscall(SYS_fcntl, oldfd, F_GETFD) < 0 ? -1 : newfd;
	rc = (int)syscall(SYS_dup2, oldfd, newfd);
	return dup_follow(oldfd, rc);
}

int dup3(int oldfd, int newfd, int flags)
{
	return dup_follow(oldfd, (int)syscall(SYS_dup3, oldfd, newfd, flags));
}

static int do_fcntl(int fd, int cmd, long arg)
{
	int rc = (int)syscall(SYS_fcntl, fd, cmd, arg);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return dup_follow(fd, rc);
	return rc;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...);
int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long request, ...)
{
	struct emu_file *f;
	va_list ap;
	long rc;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	f = file_get(fd);
	if (!f)
		return (int)syscall(SYS_ioctl, fd, request, arg);
	rc = f->fops->ioctl ? f->fops->ioctl(f, request, (uintptr_t)arg) :
			      -ENOTTY;
	file_put(f);
	return (int)sys_ret(rc);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct emu_file *f = (flags & MAP_ANONYMOUS) ? NULL : file_get(fd);
	void *out = MAP_FAILED;
	int rc;

	if (!f)
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd,
				       off);
	rc = f->fops->mmap ? f->fops->mmap(f, addr, len, prot, flags, off,
					   &out) :
			     -ENODEV;
	file_put(f);
	if (rc) {
		errno = -rc;
		return MAP_FAILED;
	}
	return out;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	struct emu_file *f = file_get(fd);
	ssize_t rc;

	if (!f)
		return syscall(SYS_pread64, fd, buf, n, off);
	rc = f->fops->pread ? f->fops->pread(f, buf, n, off) : -EINVAL;
	file_put(f);
	return sys_ret(rc);
}

ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct emu_file *f = file_get(fd);
	ssize_t rc;

	if (!f)
		return syscall(SYS_pwrite64, fd, buf, n, off);
	rc = f->fops->pwrite ? f->fops->pwrite(f, buf, n, off) : -EINVAL;
	file_put(f);
	return sys_ret(rc);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

ssize_t read(int fd, void *buf, size_t n)
{
	struct emu_file *f = file_get(fd);
	ssize_t rc;

	if (!f)
		return syscall(SYS_read, fd, buf, n);
	rc = f->fops->read ? f->fops->read(f, buf, n) : -EINVAL;
	file_put(f);
	return sys_ret(rc);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct emu_file *f = file_get(fd);
	ssize_t rc;

	if (!f)
		return syscall(SYS_write, fd, buf, n);
	rc = f->fops->write ? f->fops->write(f, buf, n) : -EINVAL;
	file_put(f);
	return sys_ret(rc);
}
