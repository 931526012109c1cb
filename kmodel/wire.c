/*
 * wire.c - kmodel's end of the FUSE wire: a SOCK_SEQPACKET socketpair whose
 * other end the server gets as its "mountpoint" /dev/fd/N, plus the control
 * socket over which the LD_PRELOAD shim forwards /dev/fuse ioctls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "kmodel.h"

#define X(name, size) _Static_assert(sizeof(struct name) == size, #name);
KM_WIRE_SIZES(X)
#undef X

struct km_conn *K;

#define KM_SOCKBUF	(4 << 20)

uint64_t km_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void km_violation(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kmodel: VIOLATION: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	K->violations++;
}

static const struct {
	uint32_t op;
	const char *name;
} opnames[] = {
	{ FUSE_LOOKUP, "LOOKUP" }, { FUSE_FORGET, "FORGET" },
	{ FUSE_GETATTR, "GETATTR" }, { FUSE_SETATTR, "SETATTR" },
	{ FUSE_MKDIR, "MKDIR" }, { FUSE_UNLINK, "UNLINK" },
	{ FUSE_RMDIR, "RMDIR" }, { FUSE_RENAME, "RENAME" },
	{ FUSE_OPEN, "OPEN" }, { FUSE_READ, "READ" }, { FUSE_WRITE, "WRITE" },
	{ FUSE_STATFS, "STATFS" }, { FUSE_RELEASE, "RELEASE" },
	{ FUSE_FSYNC, "FSYNC" }, { FUSE_FLUSH, "FLUSH" }, { FUSE_INIT, "INIT" },
	{ FUSE_OPENDIR, "OPENDIR" }, { FUSE_READDIR, "READDIR" },
	{ FUSE_RELEASEDIR, "RELEASEDIR" }, { FUSE_CREATE, "CREATE" },
	{ FUSE_DESTROY, "DESTROY" }, { FUSE_BATCH_FORGET, "BATCH_FORGET" },
	{ FUSE_FALLOCATE, "FALLOCATE" }, { FUSE_RENAME2, "RENAME2" },
	{ FUSE_LSEEK, "LSEEK" }, { FUSE_SYNCFS, "SYNCFS" }, { FUSE_STATX, "STATX" },
	{ FUSE_FREEZE_FS, "FREEZE_FS" }, { FUSE_UNFREEZE_FS, "UNFREEZE_FS" },
	{ FUSE_SHUTDOWN_FS, "SHUTDOWN_FS" }, { FUSE_IOMAP_CONFIG, "IOMAP_CONFIG" },
	{ FUSE_IOMAP_IOEND, "IOMAP_IOEND" }, { FUSE_IOMAP_BEGIN, "IOMAP_BEGIN" },
	{ FUSE_IOMAP_END, "IOMAP_END" },
};

const char *km_opname(uint32_t opcode)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < sizeof(opnames) / sizeof(opnames[0]); i++)
		if (opnames[i].op == opcode)
			return opnames[i].name;
	snprintf(buf, sizeof(buf), "OP%u", opcode);
	return buf;
}

/* Count a server time of ns nanoseconds */
static void km_opstat_time(struct km_opstat *s, uint64_t ns)
{
	unsigned int b = 0;

	s->ns += ns;
	if (ns > 1)
		b = (unsigned int)(log2((double)ns) * KM_LAT_STEPS);
	if (b >= KM_LAT_BUCKETS)
		b = KM_LAT_BUCKETS - 1;
	s->lat[b]++;
}

static struct km_opstat *opstat(uint32_t opcode)
{
	if (opcode < 64)
		return &K->op[opcode];
	if (opcode >= FUSE_FREEZE_FS && opcode < FUSE_FREEZE_FS + 8)
		return &K->iop[opcode - FUSE_FREEZE_FS];
	return NULL;
}

static void sockbufs(int fd)
{
	int sz = KM_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

int km_spawn(struct km_conn *k, char **argv, const char *shim, const char *server_log)
{
	int sv[2], cv[2], i, n;
	char fdpath[32], num[16];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cv) < 0) {
		perror("kmodel: socketpair");
		return -1;
	}
	sockbufs(sv[0]);
	sockbufs(sv[1]);
	k->rxsize = KM_SOCKBUF;
	k->rxbuf = malloc(k->rxsize);
	if (!k->rxbuf)
		return -1;

	k->pid = fork();
	if (k->pid < 0) {
		perror("kmodel: fork");
		return -1;
	}
	if (k->pid == 0) {
		int sfd = dup(sv[1]), cfd = dup(cv[1]);

		if (sfd < 0 || cfd < 0)
			_exit(127);
		snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", sfd);
		snprintf(num, sizeof(num), "%d", sfd);
		setenv(KM_ENV_FUSE_FD, num, 1);
		snprintf(num, sizeof(num), "%d", cfd);
		setenv(KM_ENV_CTL_FD, num, 1);
		if (shim) {
			const char *old = getenv("LD_PRELOAD");
			char *pre;

			if (asprintf(&pre, "%s%s%s", shim, old ? " " : "",
				     old ? old : "") < 0)
				_exit(127);
			setenv("LD_PRELOAD", pre, 1);
		}
		if (server_log) {
			int lfd = open(server_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (lfd >= 0) {
				dup2(lfd, 1);
				dup2(lfd, 2);
				close(lfd);
			}
		}
		for (n = 0; argv[n]; n++)
			;
		char **args = calloc(n + 1, sizeof(char *));

		for (i = 0; i < n; i++)
			args[i] = strcmp(argv[i], "@FD@") ? argv[i] : fdpath;
		execvp(args[0], args);
		fprintf(stderr, "kmodel: exec %s: %s\n", args[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	close(cv[1]);
	k->fd = sv[0];
	k->ctl = cv[0];
	fcntl(k->fd, F_SETFL, O_NONBLOCK);
	fcntl(k->ctl, F_SETFL, O_NONBLOCK);
	return 0;
}

/* ---- the ioctls the shim forwards ---- */

static int dev_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = st.st_size;
	return 0;
}

/* iomap's bios bypass the device's page cache: do the same with O_DIRECT. */
static int reopen_direct(int fd, int fl)
{
	char path[64];
	int dfd;

	if (K->no_direct)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dfd = open(path, (fl & O_ACCMODE) | O_DIRECT | O_CLOEXEC);
	if (dfd < 0 && K->verbose)
		fprintf(stderr, "kmodel: no O_DIRECT access to backing device (%s): "
			"using its page cache\n", strerror(errno));
	return dfd;
}

static int backing_open(const struct fuse_backing_map *map, int fd)
{
	struct stat st;
	int fl, id;

	if ((map->flags & FUSE_BACKING_TYPE_MASK) != FUSE_BACKING_TYPE_IOMAP) {
		/* kmodel does not model passthrough files */
		return -EOPNOTSUPP;
	}
	if (!K->iomap)
		return -EPERM;
	if (map->flags & ~FUSE_BACKING_FLAGS_ALL)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_PATH))
		return -EBADF;
	if (fstat(fd, &st) < 0)
		return -EBADF;
	if (!S_ISBLK(st.st_mode) && !(K->allow_regular && S_ISREG(st.st_mode)))
		return -ENODEV;
	for (id = 1; id <= KM_MAX_DEVS; id++)
		if (K->devs[id].fd < 0)
			break;
	if (id > KM_MAX_DEVS)
		return -ENOSPC;
	K->devs[id].fd = fd;
	K->devs[id].dfd = reopen_direct(fd, fl);
	K->devs[id].writable = (fl & O_ACCMODE) == O_RDWR;
	K->devs[id].blkdev = S_ISBLK(st.st_mode);
	if (dev_size(fd, &K->devs[id].size) < 0)
		K->devs[id].size = 0;
	if (K->ext4_meta) {
		struct km_meta *mm = calloc(1, sizeof(*mm));
		char err[128];

		if (!mm || km_meta_load(fd, mm, err, sizeof(err))) {
			km_violation("--ext4-meta: backing device %d: %s", id, mm ? err : "no memory");
			free(mm);
		} else {
			K->devs[id].meta = mm;
		}
	}
	if (K->verbose)
		fprintf(stderr, "kmodel: backing device %d registered (%s, %llu bytes, %s)\n",
			id, S_ISBLK(st.st_mode) ? "block device" : "regular file",
			(unsigned long long)K->devs[id].size,
			K->devs[id].writable ? "rw" : "ro");
	return id;
}

static int inode_count_iomap(void)
{
	size_t i;
	int n = 0;
	struct km_inode *ip;

	for (i = 0; i < sizeof(K->itab) / sizeof(K->itab[0]); i++)
		for (ip = K->itab[i]; ip; ip = ip->hnext)
			n += ip->iomap;
	return n;
}

static int handle_ioctl(const struct km_ctl_req *rq, int fd, struct km_ctl_rep *rp)
{
	uint32_t v;

	K->ioctls++;
	K->shim_used = 1;
	switch (rq->cmd) {
	case FUSE_DEV_IOC_BACKING_OPEN: {
		struct fuse_backing_map map;

		memcpy(&map, rq->arg, sizeof(map));
		return backing_open(&map, fd);
	}
	case FUSE_DEV_IOC_BACKING_CLOSE:
		memcpy(&v, rq->arg, sizeof(v));
		if (v < 1 || v > KM_MAX_DEVS || K->devs[v].fd < 0)
			return -ENOENT;
		if (inode_count_iomap())
			return -EBUSY;
		close(K->devs[v].fd);
		if (K->devs[v].dfd >= 0)
			close(K->devs[v].dfd);
		K->devs[v].fd = K->devs[v].dfd = -1;
		if (K->devs[v].meta)
			free(K->devs[v].meta->kind);
		free(K->devs[v].meta);
		K->devs[v].meta = NULL;
		return 0;
	case FUSE_DEV_IOC_IOMAP_SUPPORT: {
		struct fuse_iomap_support s = { 0 };

		if (K->want_iomap)
			s.flags = FUSE_IOMAP_SUPPORT_FILEIO;
		if (K->want_iomap && K->want_atomic)
			s.flags |= FUSE_IOMAP_SUPPORT_ATOMIC;
		memcpy(rp->arg, &s, sizeof(s));
		return 0;
	}
	case FUSE_DEV_IOC_SET_NOFS:
		memcpy(&v, rq->arg, sizeof(v));
		if (!K->want_iomap)
			return -EPERM;
		return v > 1 ? -EINVAL : 0;
	case FUSE_DEV_IOC_ADD_IOMAP:
		/* the fd is already attached to this connection */
		return K->want_iomap ? -EINVAL : -EPERM;
	case FUSE_DEV_IOC_IOMAP_SET_BLOCKSIZE: {
		struct fuse_iomap_backing_info bi;
		int bs;

		memcpy(&bi, rq->arg, sizeof(bi));
		if (!K->iomap)
			return -EOPNOTSUPP;
		if (bi.backing_id < 1 || bi.backing_id > KM_MAX_DEVS ||
		    K->devs[bi.backing_id].fd < 0)
			return -ENOENT;
		if (bi.blocksize < 512 || bi.blocksize > 65536 ||
		    (bi.blocksize & (bi.blocksize - 1)))
			return -EINVAL;
		if (!K->devs[bi.backing_id].blkdev)
			return 0;
		bs = bi.blocksize;
		return ioctl(K->devs[bi.backing_id].fd, BLKBSZSET, &bs) < 0 ? -errno : 0;
	}
	case FUSE_DEV_IOC_CLONE:
		return -EINVAL;
	default:
		return -ENOTTY;
	}
}

/* Serve one control message from the shim, if there is one. */
static int serve_ctl(void)
{
	struct km_ctl_req rq;
	struct km_ctl_rep rp;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &rq, sizeof(rq) };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	ssize_t n;
	int fd = -1;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(K->ctl, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	memset(&rp, 0, sizeof(rp));
	rp.magic = KM_CTL_MAGIC;
	if (n != sizeof(rq) || rq.magic != KM_CTL_MAGIC)
		rp.result = -EINVAL;
	else
		rp.result = handle_ioctl(&rq, fd, &rp);
	if (fd >= 0 && !(rq.cmd == FUSE_DEV_IOC_BACKING_OPEN && rp.result > 0))
		close(fd);
	if (K->verbose)
		fprintf(stderr, "kmodel: ioctl 0x%x from server -> %d\n", rq.cmd, rp.result);
	if (send(K->ctl, &rp, sizeof(rp), MSG_NOSIGNAL) < 0)
		return -errno;
	return 1;
}

/* ---- requests and replies ---- */

struct pending {
	uint64_t unique;
	int done;
	int error;
	void *out;
	size_t outsize;
	size_t outlen;
};

static struct pending *waiting;

/*
 * Requests in flight without anyone waiting (the kernel's background
 * requests, e.g. RELEASE): their replies are collected whenever kmodel
 * reads, and km_flush_requests() waits for all of them.
 */
#define KM_MAX_ASYNC 256
static struct {
	uint64_t unique;
	uint64_t nodeid;
	uint32_t opcode;
	uint64_t t0;
} async[KM_MAX_ASYNC];
static int nasync;

static int async_done(const struct fuse_out_header *oh, size_t bodylen)
{
	struct km_opstat *s;
	int i;

	for (i = 0; i < nasync; i++)
		if (async[i].unique == oh->unique)
			break;
	if (i == nasync)
		return 0;
	s = opstat(async[i].opcode);
	if (s) {
		km_opstat_time(s, km_now_ns() - async[i].t0);
		s->errors += oh->error != 0;
	}
	if (oh->error > 0 || oh->error <= -512 || (oh->error && bodylen))
		km_violation("reply to %s (unique %llu): error %d with %zu bytes",
			     km_opname(async[i].opcode), (unsigned long long)oh->unique,
			     oh->error, bodylen);
	async[i] = async[--nasync];
	return 1;
}

/* What the last requests were, to name them in messages about replies. */
#define KM_HIST 1024
static struct {
	uint64_t unique;
	uint32_t opcode;
} hist[KM_HIST];

static const char *sent_as(uint64_t unique)
{
	if (hist[unique % KM_HIST].unique != unique)
		return "an unknown request";
	return km_opname(hist[unique % KM_HIST].opcode);
}

static void dispatch(size_t n)
{
	struct fuse_out_header oh;

	if (n < sizeof(oh)) {
		km_violation("short message from server (%zu bytes)", n);
		return;
	}
	memcpy(&oh, K->rxbuf, sizeof(oh));
	if (oh.len != n) {
		km_violation("message header says %u bytes, %zu received", oh.len, n);
		return;
	}
	if (oh.unique == 0) {
		K->notifications++;
		km_notify(&oh, K->rxbuf + sizeof(oh), n - sizeof(oh));
		return;
	}
	if (async_done(&oh, n - sizeof(oh)))
		return;
	if (!waiting || oh.unique != waiting->unique) {
		/*
		 * The kernel fails such a write with -ENOENT and carries on
		 * (libfuse, multithreaded, can answer a FORGET with -EIO once
		 * DESTROY was processed first).
		 */
		K->stray_replies++;
		fprintf(stderr, "kmodel: warning: reply (error %d, %zu bytes) for unique %llu, "
			"which was %s and is not waiting for one: the kernel would fail "
			"that write with ENOENT\n", oh.error, n - sizeof(oh),
			(unsigned long long)oh.unique, sent_as(oh.unique));
		return;
	}
	waiting->done = 1;
	waiting->error = oh.error;
	waiting->outlen = n - sizeof(oh);
	/* the kernel's fuse_dev_do_write() refuses these writes with -EINVAL */
	if (oh.error > 0 || oh.error <= -512) {
		km_violation("reply to unique %llu: error %d out of range (-511..0)",
			     (unsigned long long)oh.unique, oh.error);
		waiting->error = -EIO;
		return;
	}
	if (oh.error && waiting->outlen) {
		km_violation("reply to unique %llu: error %d with a %zu byte body",
			     (unsigned long long)oh.unique, oh.error, waiting->outlen);
		waiting->error = -EIO;
		return;
	}
	if (oh.error == 0 && waiting->outlen > waiting->outsize) {
		km_violation("reply of %zu bytes to a request expecting at most %zu",
			     waiting->outlen, waiting->outsize);
		waiting->error = -EIO;
		waiting->outlen = 0;
		return;
	}
	if (oh.error == 0 && waiting->outlen)
		memcpy(waiting->out, K->rxbuf + sizeof(oh), waiting->outlen);
}

/* Wait for input on either socket (or for room to send); serve what came. */
static int pump(int want_out, int timeout_ms)
{
	struct pollfd p[2] = {
		{ K->fd, POLLIN | (want_out ? POLLOUT : 0), 0 },
		{ K->ctl, POLLIN, 0 },
	};
	ssize_t n;
	int r;

	r = poll(p, K->ctl >= 0 ? 2 : 1, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (K->ctl >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
		while ((r = serve_ctl()) > 0)
			;
		if (r < 0) {
			close(K->ctl);
			K->ctl = -1;
		}
	}
	if (p[0].revents & POLLIN) {
		for (;;) {
			n = recv(K->fd, K->rxbuf, K->rxsize, MSG_TRUNC);
			if (n < 0)
				break;
			if (n == 0) {
				K->dead = 1;
				return -ENOTCONN;
			}
			if ((size_t)n > K->rxsize) {
				km_violation("message of %zd bytes exceeds the %zu byte buffer",
					     n, K->rxsize);
				continue;
			}
			dispatch(n);
		}
	} else if (p[0].revents & (POLLHUP | POLLERR)) {
		K->dead = 1;
		return -ENOTCONN;
	}
	return 1;
}

static int send_msg(const struct iovec *iov, int niov)
{
	struct msghdr mh = { 0 };
	int r;

	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = niov;
	for (;;) {
		if (sendmsg(K->fd, &mh, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EAGAIN && errno != ENOBUFS) {
			K->dead = 1;
			return -ENOTCONN;
		}
		/* keep reading while the server's queue is full */
		r = pump(1, K->timeout_ms);
		if (r < 0)
			return r;
	}
}

static int send_req(uint32_t opcode, uint64_t nodeid, const struct iovec *in, int nin,
		    uint64_t *unique)
{
	struct iovec iov[8];
	struct fuse_in_header ih = { 0 };
	int i;

	if (K->dead)
		return -ENOTCONN;
	if (K->crash_after && K->unique >= K->crash_after) {
		/* --crash-after: the machine goes down instead of sending this */
		kill(K->pid, SIGKILL);
		K->crashed = 1;
		K->dead = 1;
		return -ENOTCONN;
	}
	ih.opcode = opcode;
	ih.unique = ++K->unique;
	ih.nodeid = nodeid;
	ih.len = sizeof(ih);
	/* INIT, IOMAP_CONFIG and DESTROY go out without credentials */
	if (opcode != FUSE_INIT && opcode != FUSE_IOMAP_CONFIG && opcode != FUSE_DESTROY) {
		ih.pid = getpid();
		ih.uid = K->uid;
		ih.gid = K->gid;
	}
	iov[0].iov_base = &ih;
	iov[0].iov_len = sizeof(ih);
	for (i = 0; i < nin && i < 7; i++) {
		iov[i + 1] = in[i];
		ih.len += in[i].iov_len;
	}
	*unique = ih.unique;
	hist[ih.unique % KM_HIST].unique = ih.unique;
	hist[ih.unique % KM_HIST].opcode = opcode;
	return send_msg(iov, nin + 1);
}

int km_send_noreply(uint32_t opcode, uint64_t nodeid, const void *in, size_t len)
{
	struct iovec iov = { (void *)in, len };
	uint64_t unique;
	struct km_opstat *s = opstat(opcode);

	if (s)
		s->count++;
	return send_req(opcode, nodeid, &iov, 1, &unique);
}

/* A background request: the reply is collected later (km_flush_requests). */
int km_call_async(uint32_t opcode, uint64_t nodeid, const void *in, size_t len)
{
	struct iovec iov = { (void *)in, len };
	struct km_opstat *s = opstat(opcode);
	uint64_t unique;
	int r;

	while (nasync == KM_MAX_ASYNC)
		if ((r = pump(0, K->timeout_ms)) < 0)
			return r;
	r = send_req(opcode, nodeid, &iov, 1, &unique);
	if (r)
		return r;
	if (s)
		s->count++;
	async[nasync].unique = unique;
	async[nasync].nodeid = nodeid;
	async[nasync].opcode = opcode;
	async[nasync].t0 = km_now_ns();
	nasync++;
	return 0;
}

static int node_busy(uint64_t nodeid)
{
	int i;

	for (i = 0; i < nasync; i++)
		if (nodeid == 0 || async[i].nodeid == nodeid)
			return 1;
	return 0;
}

/*
 * Wait until every background request for nodeid (all of them if nodeid
 * is 0) has been answered.
 */
int km_flush_node(uint64_t nodeid)
{
	int r;

	while (node_busy(nodeid)) {
		r = pump(0, K->timeout_ms);
		if (r == -ETIMEDOUT) {
			fprintf(stderr, "kmodel: no reply to %s (unique %llu) within %d ms\n",
				km_opname(async[0].opcode), (unsigned long long)async[0].unique,
				K->timeout_ms);
			K->violations++;
			K->dead = 1;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Wait until every background request has been answered. */
int km_flush_requests(void)
{
	return km_flush_node(0);
}

int km_call(uint32_t opcode, uint64_t nodeid, const struct iovec *in, int nin,
	    void *out, size_t outsize, size_t *outlen)
{
	struct pending pd = { 0 };
	struct km_opstat *s = opstat(opcode);
	uint64_t t0 = km_now_ns();
	int r;

	pd.out = out;
	pd.outsize = outsize;
	r = send_req(opcode, nodeid, in, nin, &pd.unique);
	if (r < 0)
		return r;
	waiting = &pd;
	while (!pd.done) {
		r = pump(0, K->timeout_ms);
		if (r == -ETIMEDOUT) {
			fprintf(stderr, "kmodel: no reply to %s (unique %llu) within %d ms\n",
				km_opname(opcode), (unsigned long long)pd.unique,
				K->timeout_ms);
			K->violations++;
			K->dead = 1;
		}
		if (r < 0)
			break;
	}
	waiting = NULL;
	if (s) {
		s->count++;
		km_opstat_time(s, km_now_ns() - t0);
	}
	if (!pd.done)
		return -ENOTCONN;
	if (pd.error && s)
		s->errors++;
	if (outlen)
		*outlen = pd.outlen;
	return pd.error;
}

/* After DESTROY: close our end and collect the server. */
int km_finish(struct km_conn *k, int *status)
{
	int i, st = 0;
	pid_t r;

	/*
	 * Hang up the way an unmount does: the server's next read of the
	 * device sees end of file.  Closing while replies are still queued
	 * for us would make its reads fail with ECONNRESET instead, so
	 * drain (and drop) whatever it still sends until it closes its end.
	 */
	shutdown(k->fd, SHUT_WR);
	for (i = 0; i < 50; i++) {
		struct pollfd pfd = { .fd = k->fd, .events = POLLIN };
		char buf[4096];

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (recv(k->fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	}
	close(k->fd);
	k->fd = -1;
	k->dead = 1;
	for (i = 0; i < 200; i++) {
		r = waitpid(k->pid, &st, WNOHANG);
		if (r == k->pid)
			break;
		if (k->ctl >= 0)
			pump(0, 50);
		else
			usleep(50000);
		if (i == 100) {
			fprintf(stderr, "kmodel: server still running 5s after teardown, SIGTERM\n");
			kill(k->pid, SIGTERM);
		}
	}
	if (i == 200) {
		fprintf(stderr, "kmodel: server did not exit, SIGKILL\n");
		kill(k->pid, SIGKILL);
		waitpid(k->pid, &st, 0);
	}
	if (k->ctl >= 0)
		close(k->ctl);
	k->ctl = -1;
	*status = st;
	return 0;
}

/* The time in microseconds that a fraction q of the timed requests took */
static double km_opstat_quantile(const struct km_opstat *s, double q)
{
	uint64_t n = 0, timed = 0;
	unsigned int b;

	for (b = 0; b < KM_LAT_BUCKETS; b++)
		timed += s->lat[b];
	for (b = 0; b < KM_LAT_BUCKETS; b++) {
		n += s->lat[b];
		if (timed && n >= q * timed)
			return exp2((double)(b + 1) / KM_LAT_STEPS) / 1e3;
	}
	return 0;
}

void km_print_stats(struct km_conn *k, FILE *f, double seconds)
{
	size_t i;
	uint64_t totn = 0, totns = 0;
	double mib;

	fprintf(f, "kmodel statistics (%.3f s wall):\n", seconds);
	fprintf(f, "  %-14s %9s %7s %12s %10s %10s\n", "opcode", "count",
		"errors", "server ms", "avg us", "p99 us");
	for (i = 0; i < 64 + 8; i++) {
		struct km_opstat *s = i < 64 ? &k->op[i] : &k->iop[i - 64];
		uint32_t op = i < 64 ? i : FUSE_FREEZE_FS + (i - 64);

		if (!s->count)
			continue;
		totn += s->count;
		totns += s->ns;
		fprintf(f, "  %-14s %9llu %7llu %12.3f %10.1f %10.1f\n",
			km_opname(op), (unsigned long long)s->count,
			(unsigned long long)s->errors, s->ns / 1e6,
			s->ns / 1e3 / s->count, km_opstat_quantile(s, 0.99));
	}
	fprintf(f, "  %-14s %9llu %7s %12.3f\n", "total", (unsigned long long)totn, "",
		totns / 1e6);
	fprintf(f, "  notifications %llu, forwarded ioctls %llu, stray replies %llu\n",
		(unsigned long long)k->notifications, (unsigned long long)k->ioctls,
		(unsigned long long)k->stray_replies);
	if (k->iop[FUSE_IOMAP_IOEND - FUSE_FREEZE_FS].count)
		fprintf(f, "  ioends: unwritten %llu, shared %llu, append %llu, error %llu\n",
			(unsigned long long)k->ioend_unwritten,
			(unsigned long long)k->ioend_shared,
			(unsigned long long)k->ioend_append,
			(unsigned long long)k->ioend_error);
	fprintf(f, "  device I/O by kmodel: read %llu bytes, written %llu bytes\n",
		(unsigned long long)k->dev_read, (unsigned long long)k->dev_written);
	if (k->atomic_writes)
		fprintf(f, "  untorn (REQ_ATOMIC) writes: %llu\n",
			(unsigned long long)k->atomic_writes);
	fprintf(f, "  file data through FUSE_READ/WRITE: read %llu bytes, written %llu bytes\n",
		(unsigned long long)k->fuse_read_bytes,
		(unsigned long long)k->fuse_write_bytes);
	mib = (k->dev_read + k->dev_written) / 1048576.0;
	fprintf(f, "  mappings: %llu from IOMAP_BEGIN, %llu from the cache, %llu retries",
		(unsigned long long)k->map_upcalls, (unsigned long long)k->map_cache_hits,
		(unsigned long long)k->retries);
	if (mib > 0)
		fprintf(f, "; %.2f mappings per MiB of device I/O",
			(k->map_upcalls + k->map_cache_hits) / mib);
	fputc('\n', f);
	fprintf(f, "  mapping cache: %llu upserts, %llu invalidations, %llu forks dropped over the limit\n",
		(unsigned long long)k->cache_upserts, (unsigned long long)k->cache_invals,
		(unsigned long long)k->cache_drops);
	if (k->stale_check)
		fprintf(f, "  stale-mapping checks: %llu (every %lu cache hits, %llu IOMAP_BEGIN), %llu stale\n",
			(unsigned long long)k->stale_checks, k->stale_check,
			(unsigned long long)k->stale_requests,
			(unsigned long long)k->stale_found);
}
