/*
 * shim.c - LD_PRELOAD library for a FUSE server run by kmodel.
 *
 * The server's "fuse device" is a socket, which cannot answer the /dev/fuse
 * ioctls.  This shim forwards those ioctls over the control socket named by
 * KMODEL_CTL_FD to kmodel, which answers them like the kernel would (file
 * descriptors travel with SCM_RIGHTS).  Every other ioctl goes to the
 * kernel untouched.
 *
 * After kmodel's teardown the socket reads end-of-file; a kernel would make
 * reads of an unmounted /dev/fuse fail with ENODEV, which is how servers
 * tell an unmount from an error, so the shim reports EOF on the fuse socket
 * as ENODEV.
 *
 * With KMODEL_REFUSE_UPSERT=ERRNO (kmodel --refuse-upserts) the server's
 * FUSE_NOTIFY_IOMAP_UPSERT_MAPPINGS notifications fail with that errno,
 * as the kernel's do when it declines to cache (ENOMEM, say), and never
 * reach kmodel.  KMODEL_REFUSE_DEVINVAL=ERRNO (kmodel --refuse-dev-inval)
 * does the same to FUSE_NOTIFY_IOMAP_DEV_INVAL.
 *
 * With KMODEL_ATOMIC_DEV=MIN:MAX (kmodel --atomic-dev) statx of a block
 * device reports untorn writes of MIN..MAX bytes, one segment, as a device
 * with hardware atomic writes would: loop devices have none, and the
 * server's own code must find out about them.  A server whose C library
 * headers lack the untorn write fields asks with syscall(SYS_statx, ...)
 * (fuse2fs does), so syscall() is caught for statx as well.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "kmodel.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int fuse_fd = -1;
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_splice)(int, loff_t *, int, loff_t *, size_t, unsigned int);
static int (*real_statx)(int, const char *, int, unsigned int, struct statx *);
static long (*real_syscall)(long, ...);
static uint32_t awu_min, awu_max;
static int refuse_upsert, refuse_devinval;

__attribute__((constructor)) static void shim_init(void)
{
	const char *s = getenv(KM_ENV_FUSE_FD);

	fuse_fd = s && *s ? atoi(s) : -1;
	real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	real_splice = (ssize_t (*)(int, loff_t *, int, loff_t *, size_t, unsigned int))
		dlsym(RTLD_NEXT, "splice");
	real_statx = (int (*)(int, const char *, int, unsigned int, struct statx *))
		dlsym(RTLD_NEXT, "statx");
	s = getenv(KM_ENV_REFUSE_UPSERT);
	refuse_upsert = s && *s ? atoi(s) : 0;
	s = getenv(KM_ENV_REFUSE_DEVINVAL);
	refuse_devinval = s && *s ? atoi(s) : 0;
	s = getenv(KM_ENV_ATOMIC_DEV);
	if (s && *s) {
		char *end;

		awu_min = strtoul(s, &end, 0);
		awu_max = *end == ':' ? strtoul(end + 1, NULL, 0) : 0;
	}
}

/* struct fuse_statx has the layout of the kernel's struct statx */
_Static_assert(sizeof(struct fuse_statx) == sizeof(struct statx), "statx layout");

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)
{
	struct fuse_statx *sx = (struct fuse_statx *)buf;
	int r;

	r = real_statx ? real_statx(dirfd, path, flags, mask, buf) :
	    real_syscall(SYS_statx, dirfd, path, flags, mask, buf);
	if (r || !awu_max || !(mask & KM_STATX_WRITE_ATOMIC) || !S_ISBLK(sx->mode))
		return r;
	sx->mask |= KM_STATX_WRITE_ATOMIC;
	sx->atomic_write_unit_min = awu_min;
	sx->atomic_write_unit_max = awu_max;
	sx->atomic_write_unit_max_opt = 0;
	sx->atomic_write_segments_max = 1;
	return r;
}

/* syscall(2) takes at most six arguments, all passed as longs */
long syscall(long nr, ...)
{
	long a[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_statx)
		return statx((int)a[0], (const char *)a[1], (int)a[2],
			     (unsigned int)a[3], (struct statx *)a[4]);
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

ssize_t read(int fd, void *buf, size_t len)
{
	ssize_t n = real_read ? real_read(fd, buf, len) : syscall(SYS_read, fd, buf, len);

	if (n == 0 && len && fd == fuse_fd && fd >= 0) {
		errno = ENODEV;
		return -1;
	}
	return n;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	const struct fuse_out_header *oh = cnt > 0 ? iov[0].iov_base : NULL;

	if (fd == fuse_fd && fd >= 0 && oh && iov[0].iov_len >= sizeof(*oh) &&
	    oh->unique == 0) {
		int refuse = 0;

		if (oh->error == FUSE_NOTIFY_IOMAP_UPSERT_MAPPINGS)
			refuse = refuse_upsert;
		else if (oh->error == FUSE_NOTIFY_IOMAP_DEV_INVAL)
			refuse = refuse_devinval;
		if (refuse) {
			errno = refuse;
			return -1;
		}
	}
	return syscall(SYS_writev, fd, iov, cnt);
}

ssize_t splice(int in, loff_t *inoff, int out, loff_t *outoff, size_t len, unsigned int fl)
{
	ssize_t n = real_splice ? real_splice(in, inoff, out, outoff, len, fl) :
		    syscall(SYS_splice, in, inoff, out, outoff, len, fl);

	if (n == 0 && len && in == fuse_fd && in >= 0) {
		errno = ENODEV;
		return -1;
	}
	return n;
}

static int env_fd(const char *name)
{
	const char *s = getenv(name);

	return s && *s ? atoi(s) : -1;
}

static int is_dev_fuse(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
	       major(st.st_rdev) == 10 && minor(st.st_rdev) == 229;
}

static int forward(unsigned long req, void *arg, size_t argsize, int passfd)
{
	struct km_ctl_req rq = { KM_CTL_MAGIC, (uint32_t)req, { 0 } };
	struct km_ctl_rep rp;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &rq, sizeof(rq) };
	struct msghdr mh = { 0 };
	int ctl = env_fd(KM_ENV_CTL_FD);
	ssize_t n;

	if (ctl < 0) {
		errno = ENOTTY;
		return -1;
	}
	if (argsize && arg)
		memcpy(rq.arg, arg, argsize);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (passfd >= 0) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
	}
	pthread_mutex_lock(&lock);
	n = sendmsg(ctl, &mh, MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(rq)) {
		do
			n = recv(ctl, &rp, sizeof(rp), 0);
		while (n < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&lock);
	if (n != (ssize_t)sizeof(rp) || rp.magic != KM_CTL_MAGIC) {
		errno = EIO;
		return -1;
	}
	if (rp.result < 0) {
		errno = -rp.result;
		return -1;
	}
	if ((_IOC_DIR(req) & _IOC_READ) && argsize && arg)
		memcpy(arg, rp.arg, argsize);
	return rp.result;
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int ours;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	ours = fd == fuse_fd && fd >= 0;
	switch (req) {
	case FUSE_DEV_IOC_BACKING_OPEN:
		if (ours) {
			struct fuse_backing_map *m = arg;

			return forward(req, arg, sizeof(*m), m ? m->fd : -1);
		}
		break;
	case FUSE_DEV_IOC_BACKING_CLOSE:
	case FUSE_DEV_IOC_SET_NOFS:
		if (ours)
			return forward(req, arg, sizeof(uint32_t), -1);
		break;
	case FUSE_DEV_IOC_CLONE:
		if (ours || (arg && fuse_fd >= 0 && *(uint32_t *)arg == (uint32_t)fuse_fd)) {
			errno = EINVAL;
			return -1;
		}
		break;
	case FUSE_DEV_IOC_IOMAP_SUPPORT:
		if (ours || is_dev_fuse(fd))
			return forward(req, arg, sizeof(struct fuse_iomap_support), -1);
		break;
	case FUSE_DEV_IOC_ADD_IOMAP:
		if (ours)
			return forward(req, NULL, 0, -1);
		break;
	case FUSE_DEV_IOC_IOMAP_SET_BLOCKSIZE:
		if (ours)
			return forward(req, arg, sizeof(struct fuse_iomap_backing_info), -1);
		break;
	}
	return syscall(SYS_ioctl, fd, req, arg);
}
