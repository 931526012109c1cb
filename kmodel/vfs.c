/*
 * vfs.c - the operations a kernel performs on a fuse mount, modelled in
 * userspace.  Regular files the server marks for iomap (FUSE_ATTR_IOMAP +
 * FUSE_ATTR_EXCLUSIVE on an iomap connection) get their data moved by
 * kmodel itself at the device addresses the server's mappings give, through
 * a small page cache (buffered I/O, writeback) or directly (O_DIRECT);
 * everything else goes through FUSE_READ/FUSE_WRITE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kmodel.h"

#ifndef EUCLEAN
#define EUCLEAN 117
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE	0x01
#define FALLOC_FL_PUNCH_HOLE	0x02
#define FALLOC_FL_ZERO_RANGE	0x10
#endif
#define FALLOC_FL_COLLAPSE	0x08
#define FALLOC_FL_INSERT	0x20

#define BS		((uint64_t)K->blocksize)
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

static int shut_down;
static int warned_exclusive;

/* ---------------------------------------------------------------- inodes */

struct km_inode *km_iget(uint64_t nodeid)
{
	size_t h = nodeid % (sizeof(K->itab) / sizeof(K->itab[0]));
	struct km_inode *ip;

	for (ip = K->itab[h]; ip; ip = ip->hnext)
		if (ip->nodeid == nodeid)
			return ip;
	ip = calloc(1, sizeof(*ip));
	if (!ip)
		abort();
	ip->nodeid = nodeid;
	ip->mode = 0;
	km_mcache_init(&ip->mc, K->cache_maxbytes);
	ip->hnext = K->itab[h];
	K->itab[h] = ip;
	return ip;
}

static struct km_inode *ifind(uint64_t nodeid)
{
	size_t h = nodeid % (sizeof(K->itab) / sizeof(K->itab[0]));
	struct km_inode *ip;

	for (ip = K->itab[h]; ip; ip = ip->hnext)
		if (ip->nodeid == nodeid)
			return ip;
	return NULL;
}

#define FOR_EACH_INODE(ip) \
	for (size_t _h = 0; _h < sizeof(K->itab) / sizeof(K->itab[0]); _h++) \
		for (ip = K->itab[_h]; ip; ip = ip->hnext)

/* The kernel's fuse_invalid_attr(): a reply with these makes the op fail -EIO. */
static int check_attr(const char *what, uint64_t nodeid, const struct fuse_attr *a)
{
	switch (a->mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK:
	case S_IFIFO: case S_IFSOCK:
		break;
	default:
		km_violation("%s reply for nodeid %llu: mode 0%o is not a valid file type (-EIO)",
			     what, (unsigned long long)nodeid, a->mode);
		return -EIO;
	}
	if ((int64_t)a->size < 0) {
		km_violation("%s reply for nodeid %llu: size %llu is beyond LLONG_MAX (-EIO)",
			     what, (unsigned long long)nodeid, (unsigned long long)a->size);
		return -EIO;
	}
	return 0;
}

void km_update_attr(struct km_inode *ip, const struct fuse_attr *a, int fresh)
{
	if (ip->mode && (ip->mode & S_IFMT) != (a->mode & S_IFMT))
		km_violation("nodeid %llu changed its file type from 0%o to 0%o",
			     (unsigned long long)ip->nodeid, ip->mode & S_IFMT, a->mode & S_IFMT);
	if (ip->mode == 0 || fresh) {
		int first = ip->mode == 0;

		ip->ino = a->ino;
		ip->mode = a->mode;
		ip->nlink = a->nlink;
		ip->aflags = a->flags;
		if (first) {
			ip->iomap = K->iomap && S_ISREG(a->mode) &&
				    (a->flags & FUSE_ATTR_IOMAP) &&
				    (a->flags & FUSE_ATTR_EXCLUSIVE);
			/* a kernel without untorn iomap writes ignores the flag */
			ip->atomic = ip->iomap && K->want_atomic &&
				     (a->flags & FUSE_ATTR_ATOMIC);
			if (K->iomap && S_ISREG(a->mode) && (a->flags & FUSE_ATTR_IOMAP) &&
			    !(a->flags & FUSE_ATTR_EXCLUSIVE) && !warned_exclusive++)
				fprintf(stderr, "kmodel: nodeid %llu has FUSE_ATTR_IOMAP without "
					"FUSE_ATTR_EXCLUSIVE: the kernel uses classic I/O for such "
					"files (warned once)\n", (unsigned long long)ip->nodeid);
			ip->size = ip->disk_size = a->size;
			return;
		}
	}
	/* the root's inode number is first seen in its first attributes */
	if (!ip->ino)
		ip->ino = a->ino;
	if (a->ino != ip->ino)
		km_violation("attributes of nodeid %llu changed ino %llu -> %llu",
			     (unsigned long long)ip->nodeid, (unsigned long long)ip->ino,
			     (unsigned long long)a->ino);
	ip->mode = a->mode;
	ip->nlink = a->nlink;
	/* an exclusive iomap inode trusts its own size; classic ones take the server's */
	if (!ip->iomap)
		ip->size = a->size;
}

/* ---------------------------------------------------------------- dentries */

struct dentry {
	char *path;
	struct km_inode *ip;
};

static struct dentry *dcache;
static size_t ndcache, capdcache;

static struct km_inode *dlookup(const char *path)
{
	size_t i;

	for (i = 0; i < ndcache; i++)
		if (!strcmp(dcache[i].path, path))
			return dcache[i].ip;
	return NULL;
}

static void dadd(const char *path, struct km_inode *ip)
{
	if (ndcache == capdcache) {
		capdcache = capdcache ? 2 * capdcache : 64;
		dcache = realloc(dcache, capdcache * sizeof(*dcache));
		if (!dcache)
			abort();
	}
	dcache[ndcache].path = strdup(path);
	dcache[ndcache].ip = ip;
	ndcache++;
}

/* Drop path and everything below it. */
static void ddrop(const char *path)
{
	size_t i = 0, l = strlen(path);

	while (i < ndcache) {
		const char *p = dcache[i].path;

		if (!strcmp(p, path) || (!strncmp(p, path, l) && p[l] == '/')) {
			free(dcache[i].path);
			dcache[i] = dcache[--ndcache];
		} else {
			i++;
		}
	}
}

static void drename(const char *from, const char *to)
{
	size_t i, l = strlen(from);

	for (i = 0; i < ndcache; i++) {
		char *p = dcache[i].path, *np;

		if (!strcmp(p, from) || (!strncmp(p, from, l) && p[l] == '/')) {
			if (asprintf(&np, "%s%s", to, p + l) < 0)
				abort();
			free(p);
			dcache[i].path = np;
		}
	}
}

/* km_call() whose reply must be exactly size bytes */
static int call_exact(const char *what, uint32_t op, uint64_t nodeid,
		      struct iovec *iov, int n, void *out, size_t size)
{
	size_t len;
	int r;

	r = km_call(op, nodeid, iov, n, out, size, &len);
	if (r)
		return r;
	if (len != size) {
		km_violation("%s reply has %zu bytes, expected %zu", what, len, size);
		return -EIO;
	}
	return 0;
}

static int entry_reply(struct km_inode **ipp, const struct fuse_entry_out *eo)
{
	struct km_inode *ip;

	if (eo->nodeid == 0)
		return -ENOENT;	/* negative entry */
	if (check_attr("entry", eo->nodeid, &eo->attr))
		return -EIO;
	ip = km_iget(eo->nodeid);
	km_update_attr(ip, &eo->attr, 1);
	ip->attr_valid = eo->attr_valid;
	ip->entry_valid = eo->entry_valid;
	ip->nlookup++;
	*ipp = ip;
	return 0;
}

/* LOOKUP of name in dir: the inode, and its attributes if attr is set */
static int do_lookup(struct km_inode *dir, const char *name, struct km_inode **ipp,
		     struct fuse_attr *attr)
{
	struct iovec iov = { (void *)name, strlen(name) + 1 };
	struct fuse_entry_out eo;
	size_t len;
	int r;

	r = km_call(FUSE_LOOKUP, dir->nodeid, &iov, 1, &eo, sizeof(eo), &len);
	if (r)
		return r;
	if (len != sizeof(eo)) {
		km_violation("LOOKUP(%s) reply has %zu bytes, expected %zu", name, len,
			     sizeof(eo));
		return -EIO;
	}
	if ((r = entry_reply(ipp, &eo)))
		return r;
	if (attr)
		*attr = eo.attr;
	return 0;
}

/* Split "/a/b/c" into the parent path and the last name. */
static int split(const char *path, char *parent, size_t plen, const char **name)
{
	const char *s = strrchr(path, '/');

	if (!s || path[0] != '/' || !s[1])
		return -EINVAL;
	if ((size_t)(s - path) >= plen)
		return -ENAMETOOLONG;
	memcpy(parent, path, s - path);
	parent[s - path] = 0;
	if (!parent[0])
		strcpy(parent, "/");
	*name = s + 1;
	return 0;
}

int km_resolve(const char *path, struct km_inode **ipp)
{
	struct km_inode *ip, *child;
	char buf[4096], *p, *tok, *save;
	char cur[4096] = "";
	int r;

	if (path[0] != '/')
		return -EINVAL;
	if ((ip = dlookup(path))) {
		*ipp = ip;
		return 0;
	}
	ip = km_iget(K->root_id);
	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf; (tok = strtok_r(p, "/", &save)); p = NULL) {
		size_t l = strlen(cur);

		snprintf(cur + l, sizeof(cur) - l, "/%s", tok);
		child = dlookup(cur);
		if (!child) {
			if (!S_ISDIR(ip->mode) && ip->nodeid != K->root_id)
				return -ENOTDIR;
			r = do_lookup(ip, tok, &child, NULL);
			if (r)
				return r;
			dadd(cur, child);
		}
		ip = child;
	}
	*ipp = ip;
	return 0;
}

/*
 * A request that makes a name, path (name in dir), with the argument in
 * and the name, answered with an entry: the new name's inode.
 */
static int entry_call(const char *what, uint32_t op, struct km_inode *dir,
		      const char *path, const char *name, void *in, size_t inlen)
{
	struct km_inode *ip;
	struct fuse_entry_out eo;
	struct iovec iov[2];
	int r;

	iov[0] = (struct iovec){ in, inlen };
	iov[1] = (struct iovec){ (void *)name, strlen(name) + 1 };
	if ((r = call_exact(what, op, dir->nodeid, iov, 2, &eo, sizeof(eo))) ||
	    (r = entry_reply(&ip, &eo)))
		return r;
	dadd(path, ip);
	return 0;
}

int km_mkdir(const char *path, uint32_t mode)
{
	char parent[4096];
	const char *name;
	struct km_inode *dir;
	struct fuse_mkdir_in in = { mode, 022 };
	int r;

	if ((r = split(path, parent, sizeof(parent), &name)) ||
	    (r = km_resolve(parent, &dir)))
		return r;
	return entry_call("MKDIR", FUSE_MKDIR, dir, path, name, &in, sizeof(in));
}

static int check_open_reply(struct km_inode *ip, const struct fuse_open_out *oo)
{
	if (ip->iomap && (oo->open_flags & (FOPEN_PASSTHROUGH | FOPEN_STREAM |
					    FOPEN_NONSEEKABLE))) {
		km_violation("open reply for iomap nodeid %llu sets PASSTHROUGH/STREAM/"
			     "NONSEEKABLE (0x%x): iomap only handles seekable regular files",
			     (unsigned long long)ip->nodeid, oo->open_flags);
		return -EINVAL;
	}
	ip->fh = oo->fh;
	ip->opened = 1;
	ip->open_reply_flags = oo->open_flags;
	return 0;
}

int km_create(const char *path, uint32_t mode)
{
	char parent[4096];
	const char *name;
	struct km_inode *dir, *ip;
	struct fuse_create_in in = { O_RDWR | O_CREAT | O_EXCL, S_IFREG | mode, 022, 0 };
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	struct iovec iov[2];
	int r;

	if ((r = split(path, parent, sizeof(parent), &name)) ||
	    (r = km_resolve(parent, &dir)))
		return r;
	iov[0] = (struct iovec){ &in, sizeof(in) };
	iov[1] = (struct iovec){ (void *)name, strlen(name) + 1 };
	if ((r = call_exact("CREATE", FUSE_CREATE, dir->nodeid, iov, 2, &out,
			      sizeof(out))) ||
	    (r = entry_reply(&ip, &out.e)))
		return r;
	dadd(path, ip);
	return check_open_reply(ip, &out.o);
}

static void pc_drop_all(struct km_inode *ip, int discard);

int km_open(struct km_inode *ip, int flags)
{
	struct fuse_open_in in = { (uint32_t)flags, 0 };
	struct iovec iov = { &in, sizeof(in) };
	struct fuse_open_out oo;
	int atomic_trunc = (K->init_flags & FUSE_ATOMIC_O_TRUNC) != 0;
	size_t len;
	int r;

	if (ip->opened)
		return 0;
	if (!S_ISREG(ip->mode))
		return -EISDIR;
	/* without FUSE_ATOMIC_O_TRUNC the kernel truncates with SETATTR after OPEN */
	if (!atomic_trunc)
		in.flags &= ~O_TRUNC;
	r = km_call(FUSE_OPEN, ip->nodeid, &iov, 1, &oo, sizeof(oo), &len);
	if (r)
		return r;
	if (len != sizeof(oo)) {
		km_violation("OPEN reply has %zu bytes", len);
		return -EIO;
	}
	if ((flags & O_TRUNC) && atomic_trunc) {
		/* the server truncated: cached data and mappings are gone */
		ip->disk_size = ip->size = 0;
		pc_drop_all(ip, 1);
		km_mcache_free(&ip->mc);
	}
	r = check_open_reply(ip, &oo);
	if (!r && (flags & O_TRUNC) && !atomic_trunc)
		r = km_truncate(ip, 0);
	return r;
}

static int wb_inode(struct km_inode *ip);

int km_close(struct km_inode *ip)
{
	struct fuse_flush_in fl = { 0 };
	struct fuse_release_in rel = { 0 };
	struct iovec iov;
	int r;

	if (!ip->opened)
		return 0;
	fl.fh = ip->fh;
	iov = (struct iovec){ &fl, sizeof(fl) };
	r = K->no_flush ? 0 : km_call(FUSE_FLUSH, ip->nodeid, &iov, 1, NULL, 0, NULL);
	if (r == -ENOSYS) {
		K->no_flush = 1;
		r = 0;
	}
	rel.fh = ip->fh;
	rel.flags = O_RDWR;
	/* like the kernel's: a background request, nobody waits for it */
	km_call_async(FUSE_RELEASE, ip->nodeid, &rel, sizeof(rel));
	ip->opened = 0;
	return r;
}

/*
 * The last name of an inode is gone: the kernel drops its page cache
 * unwritten, releases it, evicts it and tells the server with FORGET, after
 * which the server may reuse the node id.
 */
static void evict(struct km_inode *ip)
{
	size_t h = ip->nodeid % (sizeof(K->itab) / sizeof(K->itab[0]));
	struct km_inode **pp;
	struct fuse_forget_in fi;

	km_close(ip);
	pc_drop_all(ip, 1);
	km_mcache_free(&ip->mc);
	/* the kernel holds the inode until its RELEASE has been answered */
	km_flush_node(ip->nodeid);
	if (ip->nlookup) {
		fi.nlookup = ip->nlookup;
		km_send_noreply(FUSE_FORGET, ip->nodeid, &fi, sizeof(fi));
	}
	for (pp = &K->itab[h]; *pp; pp = &(*pp)->hnext)
		if (*pp == ip) {
			*pp = ip->hnext;
			break;
		}
	free(ip);
}

int km_unlink(const char *path, int dir)
{
	char parent[4096];
	const char *name;
	struct km_inode *dp, *ip = NULL;
	struct iovec iov;
	int r;

	if ((r = split(path, parent, sizeof(parent), &name)) ||
	    (r = km_resolve(parent, &dp)))
		return r;
	km_resolve(path, &ip);
	iov = (struct iovec){ (void *)name, strlen(name) + 1 };
	r = km_call(dir ? FUSE_RMDIR : FUSE_UNLINK, dp->nodeid, &iov, 1, NULL, 0, NULL);
	if (r)
		return r;
	ddrop(path);
	if (ip && (dir || ip->nlink <= 1))
		evict(ip);
	else if (ip)
		ip->nlink--;
	return 0;
}

/*
 * link(2): a new name for the file at from.  With a path based server the
 * reply may be another node; like the kernel, take what it says.
 */
int km_link(const char *from, const char *to)
{
	char parent[4096];
	const char *name;
	struct km_inode *dir, *src;
	struct fuse_link_in in;
	int r;

	if ((r = split(to, parent, sizeof(parent), &name)) ||
	    (r = km_resolve(parent, &dir)) || (r = km_resolve(from, &src)))
		return r;
	in.oldnodeid = src->nodeid;
	return entry_call("LINK", FUSE_LINK, dir, to, name, &in, sizeof(in));
}

int km_rename(const char *from, const char *to)
{
	char p1[4096], p2[4096];
	const char *n1, *n2;
	struct km_inode *d1, *d2, *src, *victim = NULL;
	struct fuse_rename_in in;
	struct iovec iov[3];
	int r;

	if ((r = split(from, p1, sizeof(p1), &n1)) || (r = split(to, p2, sizeof(p2), &n2)) ||
	    (r = km_resolve(p1, &d1)) || (r = km_resolve(p2, &d2)) ||
	    (r = km_resolve(from, &src)))
		return r;
	if (km_resolve(to, &victim))
		victim = NULL;
	in.newdir = d2->nodeid;
	iov[0] = (struct iovec){ &in, sizeof(in) };
	iov[1] = (struct iovec){ (void *)n1, strlen(n1) + 1 };
	iov[2] = (struct iovec){ (void *)n2, strlen(n2) + 1 };
	r = km_call(FUSE_RENAME, d1->nodeid, iov, 3, NULL, 0, NULL);
	if (r)
		return r;
	ddrop(to);
	drename(from, to);
	if (victim && victim != src &&
	    (S_ISDIR(victim->mode) || victim->nlink <= 1))
		evict(victim);
	return 0;
}

/* ---------------------------------------------------------------- devices */

/*
 * File data goes to the device the way iomap's bios do: around the block
 * device's page cache (O_DIRECT on a second open of the registered device),
 * so a server that leaves stale data there is caught as the kernel would
 * expose it.  Buffers that are not 4 KiB aligned bounce.
 */
static int dev_fd(uint32_t dev, uint64_t addr, size_t len, int *direct)
{
	struct km_dev *d = &K->devs[dev];

	if (dev < 1 || dev > KM_MAX_DEVS || d->fd < 0)
		return -EIO;
	if (addr + len > d->size || addr + len < addr) {
		km_violation("device %u I/O at %llu+%zu beyond its end (%llu)", dev,
			     (unsigned long long)addr, len, (unsigned long long)d->size);
		return -EIO;
	}
	*direct = d->dfd >= 0 && !((addr | len) & 511);
	return *direct ? d->dfd : d->fd;
}

static int dev_iov(uint32_t dev, int wr, uint64_t addr, struct iovec *iov, int n)
{
	size_t len = 0, done;
	ssize_t r;
	int i, fd, direct;

	/* a machine that went down writes nothing more */
	if (wr && K->crashed)
		return -EIO;
	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	fd = dev_fd(dev, addr, len, &direct);
	if (fd < 0)
		return fd;
	for (done = 0; done < len; ) {
		r = wr ? pwritev(fd, iov, n, addr + done) : preadv(fd, iov, n, addr + done);
		if (r < 0)
			return -errno;
		if (r == 0) {
			if (wr)
				return -EIO;
			for (i = 0; i < n; i++)
				memset(iov[i].iov_base, 0, iov[i].iov_len);
			break;
		}
		done += r;
		/* skip what was transferred */
		while (n && (size_t)r >= iov->iov_len) {
			r -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= r;
		}
	}
	if (wr)
		K->dev_written += len;
	else
		K->dev_read += len;
	return 0;
}

static int dev_io(uint32_t dev, int wr, uint64_t addr, void *buf, size_t len)
{
	struct iovec iov = { buf, len };
	void *bounce;
	int r, direct;

	if (((uintptr_t)buf & 4095) == 0 || dev_fd(dev, addr, len, &direct) < 0 || !direct)
		return dev_iov(dev, wr, addr, &iov, 1);
	if (posix_memalign(&bounce, 4096, len))
		return -ENOMEM;
	if (wr)
		memcpy(bounce, buf, len);
	iov.iov_base = bounce;
	r = dev_iov(dev, wr, addr, &iov, 1);
	if (!r && !wr)
		memcpy(buf, bounce, len);
	free(bounce);
	return r;
}

/* ---------------------------------------------------------------- iomap upcalls */

struct km_map {
	struct fuse_iomap_io iomap;	/* where the op reads or writes */
	struct fuse_iomap_io srcmap;	/* existing data for out-of-place writes */
	int oop;
	uint8_t *inline_data;		/* for INLINE iomap (whole mapping) */
};

static void vctx(struct km_inode *ip, struct km_vctx *v)
{
	v->blocksize = K->blocksize;
	v->maxbytes = K->maxbytes;
	v->has_cache = K->use_cache;
	v->devs = K->devs;
	v->ndevs = KM_MAX_DEVS + 1;
	(void)ip;
}

static void hole_map(struct fuse_iomap_io *m, uint64_t pos)
{
	m->offset = pos;
	m->length = 0;
	m->addr = FUSE_IOMAP_NULL_ADDR;
	m->type = FUSE_IOMAP_TYPE_HOLE;
	m->flags = 0;
	m->dev = 0;
}

/* Spec 3.5 step 1: 1 = hit, 0 = miss, < 0 = error */
static int cache_lookup(struct km_inode *ip, uint32_t opflags, uint64_t pos, struct km_map *m)
{
	struct fuse_iomap_io w, r;
	int rw, rr;

	if (!K->use_cache || !ip->mc.present || (opflags & FUSE_IOMAP_OP_NOCACHE_MASK))
		return 0;
	memset(m, 0, sizeof(*m));
	if (opflags & FUSE_IOMAP_OP_WRITE_MASK) {
		rw = km_mcache_lookup(&ip->mc, 1, pos, &w);
		if (rw == 0)
			return 0;
		rr = km_mcache_lookup(&ip->mc, 0, pos, &r);
		if (rr < 0)
			return -EUCLEAN;
		if (rr == 0)
			return 0;
		if (rw == 1 && w.type != FUSE_IOMAP_TYPE_PURE_OVERWRITE) {
			m->iomap = w;
			m->srcmap = r;
			m->oop = 1;
		} else {
			m->iomap = r;
			hole_map(&m->srcmap, pos);
		}
		if (m->iomap.type == FUSE_IOMAP_TYPE_HOLE &&
		    !(opflags & (FUSE_IOMAP_OP_ZERO | FUSE_IOMAP_OP_UNSHARE)))
			return 0;
		if (m->iomap.type == FUSE_IOMAP_TYPE_DELALLOC &&
		    (opflags & (FUSE_IOMAP_OP_DIRECT | FUSE_IOMAP_OP_WRITEBACK)))
			return 0;
		return 1;
	}
	rr = km_mcache_lookup(&ip->mc, 0, pos, &r);
	if (rr < 0)
		return -EUCLEAN;
	if (rr == 0)
		return 0;
	m->iomap = r;
	hole_map(&m->srcmap, pos);
	return 1;
}

static void describe_begin(char *buf, size_t len, struct km_inode *ip,
			   const struct fuse_iomap_begin_in *in)
{
	char of[128];

	km_format_opflags(of, sizeof(of), in->opflags);
	snprintf(buf, len, "IOMAP_BEGIN(nodeid %llu, attr_ino %llu, pos %llu, count %llu, opflags %s)",
		 (unsigned long long)ip->nodeid, (unsigned long long)in->attr_ino,
		 (unsigned long long)in->pos, (unsigned long long)in->count, of);
}

/*
 * Do the cached mapping c and the server's mapping f agree where they
 * overlap (in [from, to))?  Offsets and lengths may differ (the cache
 * merges neighbours, invalidations trim), flags may (NEW, MERGED); the
 * type and, for mappings with storage, the device address may not.
 */
static int same_mapping(const struct fuse_iomap_io *c, const struct fuse_iomap_io *f,
			uint64_t from)
{
	if (c->type != f->type)
		return 0;
	if (c->type != FUSE_IOMAP_TYPE_MAPPED && c->type != FUSE_IOMAP_TYPE_UNWRITTEN)
		return 1;
	return c->dev == f->dev &&
	       c->addr + (from - c->offset) == f->addr + (from - f->offset);
}

/*
 * The stale-mapping detector (--stale-check): a lookup at pos hit the
 * read fork of ip's cache.  Ask the server for the whole cached extent
 * again, with read IOMAP_BEGINs (no side effects on the file), and
 * compare.  The server may answer by upserting (RETRY_CACHE): its
 * notification says what it means.  The cache is put back as it was
 * (apart from what the server invalidates meanwhile), so that checking
 * changes nothing else in the run.  0, or a violation's error.
 */
static int stale_check(struct km_inode *ip, uint64_t pos)
{
	struct fuse_iomap_begin_in in = { 0 };
	struct fuse_iomap_begin_out out;
	struct iovec iov = { &in, sizeof(in) };
	struct fuse_iomap_io c, f;
	struct km_mcache saved;
	struct km_vctx v;
	const char *why = NULL;
	uint64_t cur, end, seq;
	size_t len;
	int r = 0, n, err = -EIO;

	if (km_mcache_lookup(&ip->mc, 0, pos, &c) != 1 || km_mcache_copy(&saved, &ip->mc))
		return 0;
	K->stale_checks++;
	K->stale_ip = ip;
	K->stale_saved = &saved;
	cur = c.offset;
	end = c.offset + c.length;
	for (n = 0; cur < end && n < 16 && !why; n++) {
		in.opflags = 0;
		in.attr_ino = ip->ino;
		in.pos = cur;
		in.count = end - cur;
		K->last_upsert_valid = 0;
		K->stale_requests++;
		r = km_call(FUSE_IOMAP_BEGIN, ip->nodeid, &iov, 1, &out, sizeof(out), &len);
		if (r) {
			why = "the server fails a read of a cached range";
			err = r;
			break;
		}
		vctx(ip, &v);
		if (len != sizeof(out))
			why = "reply must be exactly 64 bytes";
		else
			why = km_validate_begin(&v, &in, &out, &err);
		if (why)
			break;
		f = out.read;
		if (f.type == FUSE_IOMAP_TYPE_RETRY_CACHE) {
			if (!K->last_upsert_valid || K->last_upsert.nodeid != ip->nodeid) {
				why = "RETRY_CACHE without an upsert";
				break;
			}
			f = K->last_upsert.read;
			if (f.offset > cur || f.offset + f.length <= cur) {
				why = "the upserted mapping does not contain the position asked for";
				break;
			}
		}
		if (!same_mapping(&c, &f, cur))
			why = "the cached mapping is stale";
		else
			cur = f.offset + f.length;
	}
	K->stale_ip = NULL;
	K->stale_saved = NULL;
	seq = ip->mc.seq;
	km_mcache_free(&ip->mc);
	ip->mc = saved;
	ip->mc.seq = MAX(seq, saved.seq) + 1;
	if (!why)
		return 0;
	{
		char cs[160], fs[160];

		km_format_map(cs, sizeof(cs), &c);
		km_format_map(fs, sizeof(fs), r ? &c : &f);
		K->stale_found++;
		km_violation("stale mapping: nodeid %llu pos %llu: cached read=%s, server at %llu: %s: %s",
			     (unsigned long long)ip->nodeid, (unsigned long long)pos, cs,
			     (unsigned long long)cur, r ? "error" : fs, why);
	}
	return err ? err : -EIO;
}

static int iomap_begin(struct km_inode *ip, uint32_t opflags, uint64_t pos, uint64_t count,
		       struct km_map *m)
{
	struct fuse_iomap_begin_in in = { 0 };
	struct fuse_iomap_begin_out out;
	struct iovec iov = { &in, sizeof(in) };
	struct km_vctx v;
	const char *why;
	size_t len;
	int r, err, tries = 0;

	for (;;) {
		r = cache_lookup(ip, opflags, pos, m);
		if (r < 0) {
			km_violation("mapping cache of nodeid %llu has a write fork but no read fork",
				     (unsigned long long)ip->nodeid);
			return r;
		}
		if (r == 1) {
			K->map_cache_hits++;
			if (K->stale_check && ++K->stale_lookups % K->stale_check == 0)
				return stale_check(ip, pos);
			return 0;
		}
		in.opflags = opflags;
		in.attr_ino = ip->ino;
		in.pos = pos;
		in.count = count;
		r = km_call(FUSE_IOMAP_BEGIN, ip->nodeid, &iov, 1, &out, sizeof(out), &len);
		if (r)
			return r;
		K->map_upcalls++;
		vctx(ip, &v);
		if (len != sizeof(out))
			why = "reply must be exactly 64 bytes", err = -EIO;
		else
			why = km_validate_begin(&v, &in, &out, &err);
		if (why) {
			char d[256], rs[160], ws[160];

			describe_begin(d, sizeof(d), ip, &in);
			km_format_map(rs, sizeof(rs), &out.read);
			km_format_map(ws, sizeof(ws), &out.write);
			km_violation("%s: reply read=%s write=%s breaks rule: %s", d, rs, ws, why);
			return err;
		}
		if (K->trace_maps) {
			char d[256], rs[160];

			describe_begin(d, sizeof(d), ip, &in);
			km_format_map(rs, sizeof(rs), &out.read);
			fprintf(stderr, "kmodel: trace: %s -> read=%s\n", d, rs);
		}
		if (out.read.type == FUSE_IOMAP_TYPE_RETRY_CACHE ||
		    out.write.type == FUSE_IOMAP_TYPE_RETRY_CACHE) {
			K->retries++;
			if (++tries > 64) {
				char d[256];

				describe_begin(d, sizeof(d), ip, &in);
				km_violation("%s: 64 RETRY_CACHE answers without a usable cache entry", d);
				return -EIO;
			}
			continue;
		}
		memset(m, 0, sizeof(*m));
		if ((opflags & FUSE_IOMAP_OP_WRITE_MASK) &&
		    out.write.type != FUSE_IOMAP_TYPE_PURE_OVERWRITE) {
			m->iomap = out.write;
			m->srcmap = out.read;
			m->oop = 1;
		} else {
			m->iomap = out.read;
			hole_map(&m->srcmap, pos);
		}
		return 0;
	}
}

static int iomap_end(struct km_inode *ip, uint32_t opflags, uint64_t pos, uint64_t count,
		     int64_t written, const struct fuse_iomap_io *map)
{
	struct fuse_iomap_end_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	int r;

	if (K->no_end || map->type == FUSE_IOMAP_TYPE_INLINE)
		return 0;
	if (!(map->flags & FUSE_IOMAP_F_WANT_IOMAP_END)) {
		if (!(opflags & FUSE_IOMAP_OP_WRITE_MASK))
			return 0;
		if (!(map->flags & FUSE_IOMAP_F_SIZE_CHANGED) && written >= (int64_t)count)
			return 0;
	}
	in.opflags = opflags;
	in.attr_ino = ip->ino;
	in.pos = pos;
	in.count = count;
	in.written = written;
	in.map = *map;
	r = km_call(FUSE_IOMAP_END, ip->nodeid, &iov, 1, NULL, 0, NULL);
	if (r == -ENOSYS) {
		K->no_end = 1;
		return 0;
	}
	return r;
}

/* The kernel drops cached mappings in whole blocks. */
static void inval_range(struct km_inode *ip, uint64_t off, uint64_t len)
{
	uint64_t a = off / BS * BS, b;

	if (!len)
		return;
	b = len == FUSE_IOMAP_INVAL_TO_EOF || off + len < off ? FUSE_IOMAP_INVAL_TO_EOF :
	    (off + len + BS - 1) / BS * BS - a;
	km_mcache_inval(&ip->mc, 0, a, b);
	km_mcache_inval(&ip->mc, 1, a, b);
}

static int iomap_ioend(struct km_inode *ip, uint64_t pos, uint64_t written, int error,
		       uint32_t flags, uint32_t dev, uint64_t new_addr)
{
	struct fuse_iomap_ioend_in in = { 0 };
	struct fuse_iomap_ioend_out out;
	struct iovec iov = { &in, sizeof(in) };
	uint64_t newsize;
	size_t len;
	int r, send;

	if (pos + written > ip->disk_size)
		flags |= FUSE_IOMAP_IOEND_APPEND;
	newsize = MAX(ip->disk_size, pos + written);
	send = (flags & FUSE_IOMAP_IOEND_SWAPOFF) ||
	       (!K->no_ioend && (error || (written && (flags & (FUSE_IOMAP_IOEND_SHARED |
							      FUSE_IOMAP_IOEND_UNWRITTEN |
							      FUSE_IOMAP_IOEND_APPEND)))));
	if (send) {
		in.flags = flags;
		in.error = error;
		in.attr_ino = ip->ino;
		in.pos = pos;
		in.new_addr = new_addr;
		in.written = written;
		in.dev = dev;
		K->ioend_unwritten += !!(flags & FUSE_IOMAP_IOEND_UNWRITTEN);
		K->ioend_shared += !!(flags & FUSE_IOMAP_IOEND_SHARED);
		K->ioend_append += !!(flags & FUSE_IOMAP_IOEND_APPEND);
		K->ioend_error += !!error;
		r = km_call(FUSE_IOMAP_IOEND, ip->nodeid, &iov, 1, &out, sizeof(out), &len);
		if (r == -ENOSYS) {
			K->no_ioend = 1;
		} else if (r) {
			return error ? error : r;
		} else if (len != sizeof(out)) {
			km_violation("IOMAP_IOEND(nodeid %llu pos %llu written %llu) reply has %zu "
				     "bytes, expected 8", (unsigned long long)ip->nodeid,
				     (unsigned long long)pos, (unsigned long long)written, len);
			return -EIO;
		} else {
			newsize = out.newsize;
		}
	}
	if (error)
		return error;
	ip->disk_size = MAX(ip->disk_size, newsize);
	inval_range(ip, pos, written);
	return 0;
}

/* Inline data: FUSE_READ / FUSE_WRITE with no file handle (spec 3.6). */
static int inline_load(struct km_inode *ip, struct km_map *m, const struct fuse_iomap_io *map)
{
	struct fuse_read_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	size_t len;
	int r;

	if (m->inline_data)
		return 0;
	if (map->length > BS)
		return -ENOMEM;
	m->inline_data = calloc(1, map->length);
	if (!m->inline_data)
		return -ENOMEM;
	in.offset = map->offset;
	in.size = map->length;
	r = km_call(FUSE_READ, ip->nodeid, &iov, 1, m->inline_data, map->length, &len);
	if (r == -ENOSYS || (!r && len == 0))
		r = -EIO;
	if (!r)
		K->fuse_read_bytes += len;
	return r;
}

static int inline_store(struct km_inode *ip, uint64_t pos, const uint8_t *data, uint64_t len)
{
	struct fuse_write_in in = { 0 };
	struct fuse_write_out out;
	struct iovec iov[2];
	uint64_t done = 0;
	size_t olen;
	int r;

	while (done < len) {
		in.offset = pos + done;
		in.size = len - done;
		iov[0] = (struct iovec){ &in, sizeof(in) };
		iov[1] = (struct iovec){ (void *)(data + done), len - done };
		r = km_call(FUSE_WRITE, ip->nodeid, iov, 2, &out, sizeof(out), &olen);
		if (r)
			return r;
		if (olen != sizeof(out) || out.size == 0 || out.size > len - done)
			return -EIO;
		done += out.size;
		K->fuse_write_bytes += out.size;
	}
	ip->disk_size = MAX(ip->disk_size, pos + len);
	inval_range(ip, pos, len);
	return 0;
}

/* ---------------------------------------------------------------- page cache */

static struct km_folio *folio(struct km_inode *ip, uint64_t idx)
{
	return idx < ip->npages && ip->pages[idx].data ? &ip->pages[idx] : NULL;
}

/*
 * Folio memory is recycled: faulting fresh pages in costs more than
 * everything else kmodel does per block.  Callers fill the whole block.
 */
static void **folio_pool;
static size_t npool, cappool;

static void *folio_mem(void)
{
	void *p;

	if (npool)
		return folio_pool[--npool];
	if (posix_memalign(&p, 4096, BS))
		abort();
	return p;
}

static void folio_mem_free(void *p)
{
	if (npool == cappool) {
		size_t cap = cappool ? cappool * 2 : 256;

		if (cap * BS > K->pagecache_limit + (1 << 20)) {
			free(p);
			return;
		}
		folio_pool = realloc(folio_pool, cap * sizeof(*folio_pool));
		if (!folio_pool)
			abort();
		cappool = cap;
	}
	folio_pool[npool++] = p;
}

static struct km_folio *folio_new(struct km_inode *ip, uint64_t idx)
{
	if (idx >= ip->npages) {
		size_t n = MAX(idx + 1, ip->npages * 2);
		struct km_folio *p = realloc(ip->pages, n * sizeof(*p));

		if (!p)
			abort();
		memset(p + ip->npages, 0, (n - ip->npages) * sizeof(*p));
		ip->pages = p;
		ip->npages = n;
	}
	if (!ip->pages[idx].data) {
		ip->pages[idx].data = folio_mem();
		ip->pages[idx].dirty = 0;
		ip->ncached++;
		K->pagecache_bytes += BS;
	}
	return &ip->pages[idx];
}

static void folio_drop(struct km_inode *ip, uint64_t idx)
{
	if (idx < ip->npages && ip->pages[idx].data) {
		folio_mem_free(ip->pages[idx].data);
		ip->pages[idx].data = NULL;
		ip->pages[idx].dirty = 0;
		ip->ncached--;
		K->pagecache_bytes -= BS;
	}
}

static void pc_drop_all(struct km_inode *ip, int discard)
{
	size_t i;

	(void)discard;
	for (i = 0; i < ip->npages; i++)
		folio_drop(ip, i);
	free(ip->pages);
	ip->pages = NULL;
	ip->npages = 0;
}

/* Fill a block from a mapping; bytes past EOF read as zero. */
static int fill_block(struct km_inode *ip, struct km_map *m, const struct fuse_iomap_io *map,
		      uint64_t bpos, uint8_t *buf)
{
	int r = 0;

	switch (map->type) {
	case FUSE_IOMAP_TYPE_MAPPED:
		r = dev_io(map->dev, 0, map->addr + (bpos - map->offset), buf, BS);
		break;
	case FUSE_IOMAP_TYPE_INLINE:
		r = inline_load(ip, m, map);
		if (!r) {
			memset(buf, 0, BS);
			memcpy(buf, m->inline_data + (bpos - map->offset),
			       MIN(BS, map->offset + map->length - bpos));
		}
		break;
	default:
		memset(buf, 0, BS);
	}
	if (!r && ip->size < bpos + BS)
		memset(buf + (ip->size > bpos ? ip->size - bpos : 0), 0,
		       bpos + BS - MAX(ip->size, bpos));
	return r;
}

static int writeback(struct km_inode *ip, uint64_t first, uint64_t last);

static int balance_dirty(void)
{
	struct km_inode *ip;
	int r = 0;

	if (K->pagecache_bytes <= K->pagecache_limit)
		return 0;
	FOR_EACH_INODE(ip) {
		if (!ip->ncached)
			continue;
		r = wb_inode(ip);
		pc_drop_all(ip, 0);
		if (r)
			return r;
		if (K->pagecache_bytes <= K->pagecache_limit / 2)
			return 0;
	}
	return r;
}

#define KM_IOV_BATCH 256

/* One bio's worth: the folios of [cur, mend) to the mapping, in batches. */
static int write_folios(struct km_inode *ip, const struct fuse_iomap_io *map, uint64_t cur,
			uint64_t mend)
{
	struct iovec iov[KM_IOV_BATCH];
	uint64_t p, start;
	int n, r;

	for (p = cur; p < mend; ) {
		start = p;
		for (n = 0; n < KM_IOV_BATCH && p < mend; n++, p += BS) {
			iov[n].iov_base = folio(ip, p / BS)->data;
			iov[n].iov_len = BS;
		}
		r = dev_iov(map->dev, 1, map->addr + (start - map->offset), iov, n);
		if (r)
			return r;
		for (; start < p; start += BS)
			folio(ip, start / BS)->dirty = 0;
	}
	return 0;
}

static int writeback(struct km_inode *ip, uint64_t first, uint64_t last)
{
	uint64_t b = first, e, cur, end, mend, written;
	struct km_map m;
	struct km_folio *f;
	uint32_t flags;
	int r, ret = 0;

	while (b <= last && b < ip->npages) {
		f = folio(ip, b);
		if (!f || !f->dirty) {
			b++;
			continue;
		}
		for (e = b + 1; e <= last && (f = folio(ip, e)) && f->dirty; e++)
			;
		cur = b * BS;
		end = e * BS;
		while (cur < end) {
			r = iomap_begin(ip, FUSE_IOMAP_OP_WRITEBACK, cur, end - cur, &m);
			if (r == 0 && m.iomap.type != FUSE_IOMAP_TYPE_MAPPED &&
			    m.iomap.type != FUSE_IOMAP_TYPE_UNWRITTEN) {
				km_violation("writeback of nodeid %llu at %llu got a %s mapping for dirty data",
					     (unsigned long long)ip->nodeid,
					     (unsigned long long)cur, km_type_name(m.iomap.type));
				r = -EIO;
			}
			if (r) {
				/* the folio is discarded, the server hears about it */
				folio_drop(ip, cur / BS);
				iomap_ioend(ip, cur, BS, r, 0, 0, FUSE_IOMAP_NULL_ADDR);
				ret = ret ? ret : r;
				cur += BS;
				continue;
			}
			mend = MIN(end, m.iomap.offset + m.iomap.length);
			r = write_folios(ip, &m.iomap, cur, mend);
			written = mend > ip->size ? (ip->size > cur ? ip->size - cur : 0) : mend - cur;
			flags = FUSE_IOMAP_IOEND_WRITEBACK;
			if (m.iomap.type == FUSE_IOMAP_TYPE_UNWRITTEN)
				flags |= FUSE_IOMAP_IOEND_UNWRITTEN;
			if (m.iomap.flags & FUSE_IOMAP_F_SHARED)
				flags |= FUSE_IOMAP_IOEND_SHARED;
			/* the kernel passes the ioend's start sector unconverted (spec 3.8) */
			r = iomap_ioend(ip, cur, written, r, flags, m.iomap.dev,
					(m.iomap.addr + (cur - m.iomap.offset)) >> 9);
			if (r && !ret)
				ret = r;
			cur = mend;
		}
		b = e;
	}
	return ret;
}

static int wb_inode(struct km_inode *ip)
{
	if (!ip->npages)
		return 0;
	return writeback(ip, 0, ip->npages - 1);
}

/* Write back and drop the cached blocks covering [pos, pos+len). */
static int flush_range(struct km_inode *ip, uint64_t pos, uint64_t len, int drop)
{
	uint64_t first = pos / BS, last, i;
	int r;

	if (!len || !ip->npages)
		return 0;
	last = MIN((pos + len - 1) / BS, ip->npages - 1);
	if (first > last)
		return 0;
	r = writeback(ip, first, last);
	if (drop)
		for (i = first; i <= last; i++)
			folio_drop(ip, i);
	return r;
}

/* iomap_zero_range: zero [a, b) through the page cache where data exists. */
static int zero_range(struct km_inode *ip, uint64_t a, uint64_t b)
{
	const uint32_t op = FUSE_IOMAP_OP_WRITE | FUSE_IOMAP_OP_ZERO;
	uint64_t cur = a, mend, p, bs, be;
	struct km_map m;
	struct km_folio *f;
	int r;

	while (cur < b) {
		r = iomap_begin(ip, op, cur, b - cur, &m);
		if (r)
			return r;
		mend = MIN(b, m.iomap.offset + m.iomap.length);
		if (m.iomap.type == FUSE_IOMAP_TYPE_INLINE) {
			/* zeroes go to the server like any inline write */
			r = inline_load(ip, &m, &m.iomap);
			if (!r) {
				memset(m.inline_data + (cur - m.iomap.offset), 0, mend - cur);
				r = inline_store(ip, cur, m.inline_data + (cur - m.iomap.offset),
						 mend - cur);
			}
			for (p = m.iomap.offset; p < m.iomap.offset + m.iomap.length; p += BS)
				folio_drop(ip, p / BS);
			free(m.inline_data);
			if (r)
				return r;
			cur = mend;
			continue;
		}
		for (p = cur; p < mend; p = be) {
			bs = p / BS * BS;
			be = MIN(bs + BS, mend);
			f = folio(ip, p / BS);
			if (m.iomap.type != FUSE_IOMAP_TYPE_MAPPED) {
				/* holes and unwritten extents read as zeroes: only dirty data counts */
				if (f && f->dirty)
					memset(f->data + (p - bs), 0, be - p);
				continue;
			}
			if (!f) {
				f = folio_new(ip, p / BS);
				r = fill_block(ip, &m, m.oop ? &m.srcmap : &m.iomap, bs, f->data);
				if (r) {
					folio_drop(ip, p / BS);
					free(m.inline_data);
					return r;
				}
			}
			memset(f->data + (p - bs), 0, be - p);
			f->dirty = 1;
		}
		free(m.inline_data);
		r = iomap_end(ip, op, cur, mend - cur, mend - cur, &m.iomap);
		if (r)
			return r;
		cur = mend;
	}
	return 0;
}

/* ---------------------------------------------------------------- data paths */

static ssize_t classic_read(struct km_inode *ip, uint64_t pos, size_t len, uint8_t *buf)
{
	struct fuse_read_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	size_t done = 0, n;
	int r;

	while (done < len) {
		in.fh = ip->fh;
		in.offset = pos + done;
		in.size = MIN(len - done, K->max_read);
		in.flags = O_RDWR;
		r = km_call(FUSE_READ, ip->nodeid, &iov, 1, buf + done, in.size, &n);
		if (r)
			return done ? (ssize_t)done : r;
		K->fuse_read_bytes += n;
		done += n;
		if (n < in.size)
			break;
	}
	return done;
}

static ssize_t classic_write(struct km_inode *ip, uint64_t pos, size_t len, const uint8_t *buf)
{
	struct fuse_write_in in = { 0 };
	struct fuse_write_out out;
	struct iovec iov[2];
	size_t done = 0, n;
	int r;

	while (done < len) {
		in.fh = ip->fh;
		in.offset = pos + done;
		in.size = MIN(len - done, K->max_write);
		in.flags = O_RDWR;
		iov[0] = (struct iovec){ &in, sizeof(in) };
		iov[1] = (struct iovec){ (void *)(buf + done), in.size };
		r = km_call(FUSE_WRITE, ip->nodeid, iov, 2, &out, sizeof(out), &n);
		if (r)
			return done ? (ssize_t)done : r;
		if (n != sizeof(out) || out.size > in.size) {
			km_violation("WRITE(nodeid %llu, %u bytes) reply claims %u bytes written",
				     (unsigned long long)ip->nodeid, in.size, out.size);
			return -EIO;
		}
		K->fuse_write_bytes += out.size;
		done += out.size;
		if (out.size < in.size)
			break;
	}
	if (pos + done > ip->size)
		ip->size = ip->disk_size = pos + done;
	return done;
}

/* Readahead of [cur, mend) from a MAPPED mapping into new folios. */
static int read_folios(struct km_inode *ip, const struct fuse_iomap_io *map, uint64_t cur,
		       uint64_t mend)
{
	struct iovec iov[KM_IOV_BATCH];
	uint64_t p, start, q;
	int n, r;

	for (p = cur; p < mend; ) {
		start = p;
		for (n = 0; n < KM_IOV_BATCH && p < mend; n++, p += BS) {
			iov[n].iov_base = folio_new(ip, p / BS)->data;
			iov[n].iov_len = BS;
		}
		r = dev_iov(map->dev, 0, map->addr + (start - map->offset), iov, n);
		if (r) {
			for (q = start; q < p; q += BS)
				folio_drop(ip, q / BS);
			return r;
		}
	}
	/* bytes past EOF read as zero */
	if (ip->size < mend && ip->size > cur)
		memset(folio(ip, ip->size / BS)->data + ip->size % BS, 0,
		       ip->size % BS ? BS - ip->size % BS : 0);
	return 0;
}

/* balance: may write back and evict afterwards (not while a caller holds folios) */
static ssize_t buffered_read(struct km_inode *ip, uint64_t pos, size_t len, uint8_t *buf,
			     int balance)
{
	uint64_t first, last, b, e, cur, end, p, mend;
	struct km_map m;
	struct km_folio *f;
	size_t done;
	int r;

	if (pos >= ip->size)
		return 0;
	len = MIN(len, ip->size - pos);
	if (!len)
		return 0;
	first = pos / BS;
	last = (pos + len - 1) / BS;
	for (b = first; b <= last; b = e) {
		if (folio(ip, b)) {
			e = b + 1;
			continue;
		}
		for (e = b + 1; e <= last && !folio(ip, e); e++)
			;
		cur = b * BS;
		end = e * BS;
		while (cur < end) {
			r = iomap_begin(ip, 0, cur, end - cur, &m);
			if (r)
				return r;
			mend = MIN(end, m.iomap.offset + m.iomap.length);
			if (m.iomap.type == FUSE_IOMAP_TYPE_MAPPED) {
				r = read_folios(ip, &m.iomap, cur, mend);
				if (r)
					return r;
				p = mend;
			} else {
				p = cur;
			}
			for (; p < mend; p += BS) {
				f = folio_new(ip, p / BS);
				r = fill_block(ip, &m, &m.iomap, p, f->data);
				if (r) {
					folio_drop(ip, p / BS);
					free(m.inline_data);
					return r;
				}
			}
			free(m.inline_data);
			r = iomap_end(ip, 0, cur, mend - cur, mend - cur, &m.iomap);
			if (r)
				return r;
			cur = mend;
		}
	}
	for (done = 0; done < len; ) {
		uint64_t at = pos + done, off = at % BS;
		size_t n = MIN(len - done, BS - off);

		memcpy(buf + done, folio(ip, at / BS)->data + off, n);
		done += n;
	}
	r = balance ? balance_dirty() : 0;
	return r ? r : (ssize_t)len;
}

static ssize_t buffered_write(struct km_inode *ip, uint64_t pos, size_t len, const uint8_t *buf)
{
	uint64_t done = 0, cur, mend, p, bs, be;
	struct km_map m;
	struct km_folio *f;
	struct fuse_iomap_io used;
	int r;

	if (pos > ip->size) {
		r = zero_range(ip, ip->size, pos);
		if (r)
			return r;
	}
	while (done < len) {
		cur = pos + done;
		r = iomap_begin(ip, FUSE_IOMAP_OP_WRITE, cur, len - done, &m);
		if (r)
			return done ? (ssize_t)done : r;
		mend = MIN(pos + len, m.iomap.offset + m.iomap.length);
		if (m.iomap.type == FUSE_IOMAP_TYPE_INLINE) {
			r = inline_load(ip, &m, &m.iomap);
			if (!r) {
				memcpy(m.inline_data + (cur - m.iomap.offset), buf + done, mend - cur);
				r = inline_store(ip, cur, m.inline_data + (cur - m.iomap.offset),
						 mend - cur);
			}
			if (!r) {
				/* the page cache now holds clean, persisted data */
				for (p = m.iomap.offset; p < m.iomap.offset + m.iomap.length; p += BS)
					folio_drop(ip, p / BS);
				if (mend > ip->size)
					ip->size = mend;
			}
			free(m.inline_data);
			if (r)
				return done ? (ssize_t)done : r;
			done += mend - cur;
			continue;
		}
		for (p = cur; p < mend; p = be) {
			bs = p / BS * BS;
			be = MIN(bs + BS, mend);
			f = folio(ip, p / BS);
			if (!f) {
				f = folio_new(ip, p / BS);
				if (p != bs || be != bs + BS) {
					const struct fuse_iomap_io *src = m.oop ? &m.srcmap : &m.iomap;

					if (!m.oop && (m.iomap.flags & FUSE_IOMAP_F_NEW))
						memset(f->data, 0, BS);
					else
						r = fill_block(ip, &m, src, bs, f->data);
					if (r) {
						folio_drop(ip, p / BS);
						free(m.inline_data);
						return done ? (ssize_t)done : r;
					}
				}
			}
			memcpy(f->data + (p - bs), buf + done + (p - cur), be - p);
			f->dirty = 1;
		}
		free(m.inline_data);
		used = m.iomap;
		if (mend > ip->size) {
			ip->size = mend;
			used.flags |= FUSE_IOMAP_F_SIZE_CHANGED;
		}
		r = iomap_end(ip, FUSE_IOMAP_OP_WRITE, cur, mend - cur, mend - cur, &used);
		if (r)
			return done ? (ssize_t)done : r;
		done += mend - cur;
	}
	r = balance_dirty();
	return r ? r : (ssize_t)len;
}

static ssize_t direct_read(struct km_inode *ip, uint64_t pos, size_t len, uint8_t *buf)
{
	uint64_t cur, mend;
	struct km_map m;
	size_t done = 0;
	int r;

	if ((pos | len) & 511)
		return -EINVAL;
	if (pos >= ip->size)
		return 0;
	len = MIN(len, ip->size - pos);
	r = flush_range(ip, pos, len, 0);
	if (r)
		return r;
	while (done < len) {
		cur = pos + done;
		r = iomap_begin(ip, FUSE_IOMAP_OP_DIRECT, cur, len - done, &m);
		if (r)
			return done ? (ssize_t)done : r;
		mend = MIN(pos + len, m.iomap.offset + m.iomap.length);
		switch (m.iomap.type) {
		case FUSE_IOMAP_TYPE_MAPPED:
			r = dev_io(m.iomap.dev, 0, m.iomap.addr + (cur - m.iomap.offset),
				   buf + done, mend - cur);
			break;
		case FUSE_IOMAP_TYPE_INLINE:
			r = inline_load(ip, &m, &m.iomap);
			if (!r)
				memcpy(buf + done, m.inline_data + (cur - m.iomap.offset), mend - cur);
			break;
		default:
			memset(buf + done, 0, mend - cur);
		}
		free(m.inline_data);
		if (r)
			return done ? (ssize_t)done : r;
		r = iomap_end(ip, FUSE_IOMAP_OP_DIRECT, cur, mend - cur, mend - cur, &m.iomap);
		if (r)
			return r;
		done += mend - cur;
	}
	return done;
}

/*
 * An untorn write goes to the device as one REQ_ATOMIC bio: iomap fails
 * it with -EINVAL unless one mapping covers all of it, and the block
 * layer unless the device can write that many bytes, at that address,
 * untorn.
 */
static int atomic_bio_ok(const struct fuse_iomap_io *m, uint64_t cur, uint64_t mend,
			 uint64_t pos, size_t len)
{
	uint64_t addr = m->addr + (cur - m->offset);

	if (cur != pos || mend != pos + len)
		return -EINVAL;
	if (len < K->awu_min || len > K->awu_max || addr % len)
		return -EINVAL;
	return 0;
}

static ssize_t direct_write(struct km_inode *ip, uint64_t pos, size_t len, const uint8_t *buf,
			    int atomic)
{
	const uint32_t op = FUSE_IOMAP_OP_WRITE | FUSE_IOMAP_OP_DIRECT |
			    (atomic ? FUSE_IOMAP_OP_ATOMIC : 0);
	uint64_t cur, mend, head, tail;
	uint32_t ioflags = FUSE_IOMAP_IOEND_DIRECT;
	struct km_map m;
	size_t done = 0;
	uint8_t *zero = NULL;
	int r = 0;

	if ((pos | len) & 511)
		return -EINVAL;
	if (pos + len > (uint64_t)K->maxbytes)
		return -EFBIG;
	r = flush_range(ip, pos / BS * BS, (pos + len + BS - 1) / BS * BS - pos / BS * BS, 1);
	if (r)
		return r;
	if (pos > ip->size) {
		r = zero_range(ip, ip->size, MIN(pos, (ip->size + BS - 1) / BS * BS));
		if (!r)
			r = flush_range(ip, ip->size / BS * BS, BS, 1);
		if (r)
			return r;
	}
	while (done < len) {
		cur = pos + done;
		r = iomap_begin(ip, op, cur, len - done, &m);
		if (r)
			break;
		mend = MIN(pos + len, m.iomap.offset + m.iomap.length);
		if (atomic) {
			/* the validator saw to MAPPED/UNWRITTEN with ATOMIC_BIO */
			r = atomic_bio_ok(&m.iomap, cur, mend, pos, len);
			if (r) {
				free(m.inline_data);
				break;
			}
			K->atomic_writes++;
		}
		switch (m.iomap.type) {
		case FUSE_IOMAP_TYPE_UNWRITTEN:
			ioflags |= FUSE_IOMAP_IOEND_UNWRITTEN;
			/* fall through */
		case FUSE_IOMAP_TYPE_MAPPED:
			if (m.iomap.flags & FUSE_IOMAP_F_SHARED)
				ioflags |= FUSE_IOMAP_IOEND_SHARED;
			/* sub-block zeroing around new or unwritten blocks */
			if (m.iomap.type == FUSE_IOMAP_TYPE_UNWRITTEN ||
			    (m.iomap.flags & FUSE_IOMAP_F_NEW)) {
				if (!zero && !posix_memalign((void **)&zero, 4096, BS))
					memset(zero, 0, BS);
				if (!zero) {
					r = -ENOMEM;
					break;
				}
				head = cur % BS;
				tail = mend % BS ? BS - mend % BS : 0;
				if (head && !r)
					r = dev_io(m.iomap.dev, 1,
						   m.iomap.addr + (cur - head - m.iomap.offset),
						   zero, head);
				if (tail && !r)
					r = dev_io(m.iomap.dev, 1,
						   m.iomap.addr + (mend - m.iomap.offset), zero, tail);
			}
			if (!r)
				r = dev_io(m.iomap.dev, 1, m.iomap.addr + (cur - m.iomap.offset),
					   (void *)(buf + done), mend - cur);
			break;
		case FUSE_IOMAP_TYPE_INLINE:
			r = inline_load(ip, &m, &m.iomap);
			if (!r) {
				memcpy(m.inline_data + (cur - m.iomap.offset), buf + done, mend - cur);
				r = inline_store(ip, cur, m.inline_data + (cur - m.iomap.offset),
						 mend - cur);
			}
			break;
		default:
			km_violation("direct write to nodeid %llu at %llu got a %s mapping",
				     (unsigned long long)ip->nodeid, (unsigned long long)cur,
				     km_type_name(m.iomap.type));
			r = -EIO;
		}
		free(m.inline_data);
		if (r)
			break;
		r = iomap_end(ip, op, cur, mend - cur, mend - cur, &m.iomap);
		if (r)
			break;
		done += mend - cur;
	}
	free(zero);
	if (done || r) {
		int e = iomap_ioend(ip, pos, done, done ? 0 : r, ioflags, 0,
				    FUSE_IOMAP_NULL_ADDR);

		if (e && !r)
			r = e;
	}
	if (done && pos + done > ip->size)
		ip->size = pos + done;
	return done ? (ssize_t)done : r;
}

static int alive(void)
{
	if (shut_down)
		return -EIO;
	if (K->dead)
		return -ENOTCONN;
	return 0;
}

ssize_t km_read(struct km_inode *ip, uint64_t pos, size_t len, void *buf, int direct)
{
	int r;

	if ((r = alive()))
		return r;
	if (!S_ISREG(ip->mode))
		return -EISDIR;
	if ((r = km_open(ip, O_RDWR)))
		return r;
	K->io_bytes += len;
	if (!ip->iomap)
		return classic_read(ip, pos, len, buf);
	if (direct || (ip->open_reply_flags & FOPEN_DIRECT_IO))
		return direct_read(ip, pos, len, buf);
	return buffered_read(ip, pos, len, buf, 1);
}

ssize_t km_write(struct km_inode *ip, uint64_t pos, size_t len, const void *buf, int direct)
{
	int r;

	if ((r = alive()))
		return r;
	if (!S_ISREG(ip->mode))
		return -EISDIR;
	if ((r = km_open(ip, O_RDWR)))
		return r;
	/*
	 * RWF_ATOMIC: the file must have been opened with
	 * FMODE_CAN_ATOMIC_WRITE, only direct writes of exactly one
	 * block are untorn, and the generic checks want a power of two
	 * length at an offset aligned to it (spec 3.15).
	 */
	if (direct & KM_IO_ATOMIC) {
		if (!ip->atomic)
			return -EOPNOTSUPP;
		if (!(direct & KM_IO_DIRECT) && !(ip->open_reply_flags & FOPEN_DIRECT_IO))
			return -EOPNOTSUPP;
		if (len != BS || pos % len)
			return -EINVAL;
	}
	if (!len)
		return 0;
	K->io_bytes += len;
	if (!ip->iomap)
		return classic_write(ip, pos, len, buf);
	if (pos + len > (uint64_t)K->maxbytes)
		return -EFBIG;
	if ((direct & KM_IO_DIRECT) || (ip->open_reply_flags & FOPEN_DIRECT_IO))
		return direct_write(ip, pos, len, buf, !!(direct & KM_IO_ATOMIC));
	return buffered_write(ip, pos, len, buf);
}

/*
 * A store through a shared writable mapping: the fault path reads the
 * folio in, page_mkwrite asks for a WRITE|FAULT mapping (the server
 * allocates there), then the folio is dirtied for writeback.  Stores past
 * EOF would be SIGBUS.
 */
ssize_t km_mmap_write(struct km_inode *ip, uint64_t pos, size_t len, const void *buf)
{
	const uint32_t op = FUSE_IOMAP_OP_WRITE | FUSE_IOMAP_OP_FAULT;
	uint64_t b, bs, be, cur;
	struct km_map m;
	struct km_folio *f;
	uint8_t tmp[1];
	int r, inl;

	if ((r = alive()))
		return r;
	if (!S_ISREG(ip->mode))
		return -EISDIR;
	if ((r = km_open(ip, O_RDWR)))
		return r;
	if (pos + len > ip->size)
		return -EFAULT;
	if (!len)
		return 0;
	K->io_bytes += len;
	if (!ip->iomap)
		return classic_write(ip, pos, len, buf);
	for (b = pos / BS; b <= (pos + len - 1) / BS; b++) {
		bs = b * BS;
		be = MIN(bs + BS, ip->size);
		inl = 0;
		if (!folio(ip, b)) {
			r = buffered_read(ip, bs, 1, tmp, 0);
			if (r < 0)
				return r;
		}
		for (cur = bs; cur < be; cur = MIN(be, m.iomap.offset + m.iomap.length)) {
			r = iomap_begin(ip, op, cur, be - cur, &m);
			if (r)
				return r;
			free(m.inline_data);
			if (m.iomap.type == FUSE_IOMAP_TYPE_INLINE)
				inl = 1;
			r = iomap_end(ip, op, cur, MIN(be, m.iomap.offset + m.iomap.length) - cur,
				      MIN(be, m.iomap.offset + m.iomap.length) - cur, &m.iomap);
			if (r)
				return r;
		}
		cur = MAX(pos, bs);
		if (inl) {
			/* inline data has no blocks to write back: store it now */
			ssize_t n = buffered_write(ip, cur, MIN(pos + len, bs + BS) - cur,
						   (const uint8_t *)buf + (cur - pos));

			if (n < 0)
				return n;
			continue;
		}
		f = folio(ip, b);
		memcpy(f->data + (cur - bs), (const uint8_t *)buf + (cur - pos),
		       MIN(pos + len, bs + BS) - cur);
		f->dirty = 1;
	}
	r = balance_dirty();
	return r ? r : (ssize_t)len;
}

/* ---------------------------------------------------------------- metadata ops */

static int setattr_size(struct km_inode *ip, uint64_t size)
{
	struct fuse_setattr_in in = { 0 };
	struct fuse_attr_out out;
	struct iovec iov = { &in, sizeof(in) };
	size_t len;
	int r;

	in.valid = FATTR_SIZE;
	in.size = size;
	if (ip->opened) {
		in.valid |= FATTR_FH;
		in.fh = ip->fh;
	}
	r = km_call(FUSE_SETATTR, ip->nodeid, &iov, 1, &out, sizeof(out), &len);
	if (r)
		return r;
	if (len != sizeof(out)) {
		km_violation("SETATTR reply has %zu bytes", len);
		return -EIO;
	}
	if (check_attr("SETATTR", ip->nodeid, &out.attr))
		return -EIO;
	km_update_attr(ip, &out.attr, 0);
	return 0;
}

int km_truncate(struct km_inode *ip, uint64_t size)
{
	uint64_t old = ip->size, i;
	int r;

	if ((r = alive()))
		return r;
	if (!S_ISREG(ip->mode))
		return -EISDIR;
	if (!ip->iomap) {
		r = setattr_size(ip, size);
		if (!r)
			ip->size = size;
		return r;
	}
	if ((int64_t)size > K->maxbytes)
		return -EFBIG;
	if (size > old)
		r = zero_range(ip, old, MIN(size, (old + BS - 1) / BS * BS));
	else if (size % BS)
		r = zero_range(ip, size, MIN(old, (size + BS - 1) / BS * BS));
	if (r)
		return r;
	/* truncate_setsize: drop whole blocks past the new EOF */
	ip->size = size;
	for (i = (size + BS - 1) / BS; i < ip->npages; i++)
		folio_drop(ip, i);
	r = wb_inode(ip);
	if (r)
		return r;
	r = setattr_size(ip, size);
	if (r)
		return r;
	ip->size = ip->disk_size = size;
	inval_range(ip, size, FUSE_IOMAP_INVAL_TO_EOF);
	return 0;
}

int km_fallocate(struct km_inode *ip, uint32_t mode, uint64_t off, uint64_t len)
{
	struct fuse_fallocate_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	uint64_t a, b, end = off + len;
	int r;

	if ((r = alive()))
		return r;
	if ((r = km_open(ip, O_RDWR)))
		return r;
	if (ip->iomap && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE |
				  FALLOC_FL_COLLAPSE | FALLOC_FL_INSERT))) {
		/* flush and unmap the range, widened to block boundaries */
		a = off / BS * BS;
		b = (end + BS - 1) / BS * BS;
		r = flush_range(ip, a, b - a, 1);
		if (r)
			return r;
	}
	in.fh = ip->fh;
	in.offset = off;
	in.length = len;
	in.mode = mode;
	r = km_call(FUSE_FALLOCATE, ip->nodeid, &iov, 1, NULL, 0, NULL);
	if (r)
		return r;
	if (!ip->iomap) {
		if (!(mode & FALLOC_FL_KEEP_SIZE) && end > ip->size)
			ip->size = end;
		return 0;
	}
	inval_range(ip, off, (mode & (FALLOC_FL_COLLAPSE | FALLOC_FL_INSERT)) ?
		    FUSE_IOMAP_INVAL_TO_EOF : len);
	if (!(mode & FALLOC_FL_KEEP_SIZE) && end > ip->size)
		ip->size = ip->disk_size = end;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		/* the kernel zeroes the partial blocks at the edges, up to EOF */
		a = MIN(off, ip->size);
		b = MIN(end, ip->size);
		if (a < b && a % BS)
			r = zero_range(ip, a, MIN(b, (a + BS - 1) / BS * BS));
		if (!r && a < b && b % BS && b / BS * BS >= a)
			r = zero_range(ip, MAX(a, b / BS * BS), b);
	}
	return r;
}

int km_fsync(struct km_inode *ip, int datasync)
{
	struct fuse_fsync_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	int r;

	if ((r = alive()))
		return r;
	if (ip->iomap && (r = wb_inode(ip)))
		return r;
	if (!ip->opened)
		return 0;
	in.fh = ip->fh;
	in.fsync_flags = datasync ? FUSE_FSYNC_FDATASYNC : 0;
	r = km_call(FUSE_FSYNC, ip->nodeid, &iov, 1, NULL, 0, NULL);
	return r == -ENOSYS ? 0 : r;
}

static int wb_all(void)
{
	struct km_inode *ip;
	int r, ret = 0;

	FOR_EACH_INODE(ip) {
		r = wb_inode(ip);
		if (r && !ret)
			ret = r;
	}
	return ret;
}

static void sync_devs(void)
{
	int i;

	for (i = 1; i <= KM_MAX_DEVS; i++)
		if (K->devs[i].fd >= 0) {
			fsync(K->devs[i].fd);
			if (K->devs[i].dfd >= 0)
				fsync(K->devs[i].dfd);
		}
}

int km_syncfs(void)
{
	struct fuse_syncfs_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	int r;

	if ((r = alive()))
		return r;
	r = wb_all();
	sync_devs();
	if (r || !K->iomap || K->no_syncfs)
		return r;
	r = km_call(FUSE_SYNCFS, K->root_id, &iov, 1, NULL, 0, NULL);
	if (r == -ENOSYS)
		K->no_syncfs = 1;
	return r == -ENOSYS ? 0 : r;
}

int km_dropcaches(void)
{
	struct km_inode *ip;
	int r = wb_all();

	FOR_EACH_INODE(ip) {
		pc_drop_all(ip, 0);
		km_mcache_free(&ip->mc);
	}
	return r;
}

/* A request answered with fuse_attr_out (GETATTR, SETATTR) about ip */
static int attr_call(const char *what, uint32_t op, struct km_inode *ip,
		     struct iovec *iov, struct fuse_attr_out *out)
{
	int r;

	if ((r = alive()) ||
	    (r = call_exact(what, op, ip->nodeid, iov, 1, out, sizeof(*out))))
		return r;
	if (check_attr(what, ip->nodeid, &out->attr))
		return -EIO;
	km_update_attr(ip, &out->attr, 0);
	ip->attr_valid = out->attr_valid;
	return 0;
}

int km_getattr(struct km_inode *ip, struct fuse_attr *attr)
{
	struct fuse_getattr_in in = { 0 };
	struct fuse_attr_out out;
	struct iovec iov = { &in, sizeof(in) };
	int r;

	if ((r = attr_call("GETATTR", FUSE_GETATTR, ip, &iov, &out)))
		return r;
	*attr = out.attr;
	attr->size = ip->size;
	return 0;
}

/* A fresh LOOKUP of path (not from the dentry cache): its attributes */
int km_lookup_attr(const char *path, struct fuse_attr *attr)
{
	struct km_inode *dir, *ip;
	char parent[4096];
	const char *name;
	int r;

	if ((r = alive()) || (r = split(path, parent, sizeof(parent), &name)) ||
	    (r = km_resolve(parent, &dir)))
		return r;
	return do_lookup(dir, name, &ip, attr);
}

/* SETATTR of anything but the size (km_truncate does that) */
int km_setattr(struct km_inode *ip, const struct fuse_setattr_in *in)
{
	struct fuse_attr_out out;
	struct iovec iov = { (void *)in, sizeof(*in) };

	return attr_call("SETATTR", FUSE_SETATTR, ip, &iov, &out);
}

int km_setxattr(struct km_inode *ip, const char *name, const void *value, size_t len)
{
	struct fuse_setxattr_in in = { (uint32_t)len, 0 };
	struct iovec iov[3] = {
		{ &in, sizeof(in) },
		{ (void *)name, strlen(name) + 1 },
		{ (void *)value, len },
	};
	size_t rlen;
	int r;

	if ((r = alive()))
		return r;
	return km_call(FUSE_SETXATTR, ip->nodeid, iov, 3, NULL, 0, &rlen);
}

/* The size of an extended attribute's value (GETXATTR with size 0) */
int km_getxattr(struct km_inode *ip, const char *name, size_t *len)
{
	struct fuse_getxattr_in in = { 0, 0 };
	struct fuse_getxattr_out out;
	struct iovec iov[2] = {
		{ &in, sizeof(in) },
		{ (void *)name, strlen(name) + 1 },
	};
	int r;

	if ((r = alive()) ||
	    (r = call_exact("GETXATTR", FUSE_GETXATTR, ip->nodeid, iov, 2, &out,
			    sizeof(out))))
		return r;
	*len = out.size;
	return 0;
}

int km_statx(struct km_inode *ip, struct fuse_statx *sx)
{
	struct fuse_statx_in in = { 0 };
	struct fuse_statx_out out;
	struct iovec iov = { &in, sizeof(in) };
	struct fuse_attr a;
	size_t len;
	int r;

	if ((r = alive()))
		return r;
	memset(sx, 0, sizeof(*sx));
	if (K->minor >= 39) {
		in.sx_mask = 0xfff | KM_STATX_DIOALIGN | KM_STATX_WRITE_ATOMIC;
		r = km_call(FUSE_STATX, ip->nodeid, &iov, 1, &out, sizeof(out), &len);
		if (!r && len == sizeof(out)) {
			*sx = out.stat;
			if (ip->iomap)
				sx->size = ip->size;
			return 0;
		}
		if (!r) {
			km_violation("STATX reply has %zu bytes", len);
			return -EIO;
		}
		if (r != -ENOSYS)
			return r;
	}
	r = km_getattr(ip, &a);
	if (r)
		return r;
	sx->ino = a.ino;
	sx->size = a.size;
	sx->blocks = a.blocks;
	sx->mode = a.mode;
	sx->nlink = a.nlink;
	return 0;
}

int km_statfs(struct fuse_kstatfs *st)
{
	size_t len;
	int r;

	if ((r = alive()))
		return r;
	r = km_call(FUSE_STATFS, K->root_id, NULL, 0, st, sizeof(*st), &len);
	if (!r && len != sizeof(*st))
		return -EIO;
	return r;
}

int km_readdir(const char *path, char ***names, int *n)
{
	struct km_inode *ip;
	struct fuse_open_in oi = { O_RDONLY, 0 };
	struct fuse_open_out oo;
	struct fuse_read_in ri = { 0 };
	struct fuse_release_in rel = { 0 };
	struct iovec iov;
	char *buf;
	size_t len, p;
	int r, cnt = 0;
	char **v = NULL;

	if ((r = alive()) || (r = km_resolve(path, &ip)))
		return r;
	iov = (struct iovec){ &oi, sizeof(oi) };
	r = km_call(FUSE_OPENDIR, ip->nodeid, &iov, 1, &oo, sizeof(oo), &len);
	if (r)
		return r;
	buf = malloc(8192);
	ri.fh = oo.fh;
	for (;;) {
		uint64_t prev = ri.offset;

		ri.size = 8192;
		iov = (struct iovec){ &ri, sizeof(ri) };
		r = km_call(FUSE_READDIR, ip->nodeid, &iov, 1, buf, 8192, &len);
		if (r || len == 0)
			break;
		for (p = 0; p + sizeof(struct fuse_dirent) <= len; ) {
			struct fuse_dirent *d = (struct fuse_dirent *)(buf + p);
			size_t rec = (sizeof(*d) + d->namelen + 7) & ~7UL;

			if (p + sizeof(*d) + d->namelen > len) {
				km_violation("READDIR reply has a truncated dirent");
				r = -EIO;
				break;
			}
			if (!(d->namelen == 1 && d->name[0] == '.') &&
			    !(d->namelen == 2 && !memcmp(d->name, "..", 2))) {
				v = realloc(v, (cnt + 1) * sizeof(*v));
				v[cnt++] = strndup(d->name, d->namelen);
			}
			ri.offset = d->off;
			p += rec;
		}
		if (r)
			break;
		/* getdents would return the same entries forever */
		if (ri.offset == prev) {
			fprintf(stderr, "kmodel: READDIR of %s does not advance past offset %llu\n",
				path, (unsigned long long)prev);
			r = -ELOOP;
			break;
		}
	}
	free(buf);
	rel.fh = oo.fh;
	iov = (struct iovec){ &rel, sizeof(rel) };
	km_call(FUSE_RELEASEDIR, ip->nodeid, &iov, 1, NULL, 0, NULL);
	*names = v;
	*n = cnt;
	return r;
}

/* SEEK_DATA = 3, SEEK_HOLE = 4 */
int km_seek(struct km_inode *ip, uint64_t off, int whence, uint64_t *result)
{
	struct fuse_lseek_in in = { 0 };
	struct fuse_lseek_out out;
	struct iovec iov = { &in, sizeof(in) };
	struct km_map m;
	uint64_t cur;
	size_t len;
	int r, data;

	if ((r = alive()) || (r = km_open(ip, O_RDWR)))
		return r;
	if (off >= ip->size)
		return -ENXIO;
	if (!ip->iomap) {
		in.fh = ip->fh;
		in.offset = off;
		in.whence = whence;
		r = km_call(FUSE_LSEEK, ip->nodeid, &iov, 1, &out, sizeof(out), &len);
		if (r == -ENOSYS) {
			*result = whence == 3 ? off : ip->size;
			return 0;
		}
		if (!r && len != sizeof(out)) {
			km_violation("LSEEK reply has %zu bytes", len);
			return -EIO;
		}
		if (!r)
			*result = out.offset;
		return r;
	}
	if ((r = wb_inode(ip)))
		return r;
	for (cur = off; cur < ip->size; ) {
		r = iomap_begin(ip, FUSE_IOMAP_OP_REPORT, cur, ip->size - cur, &m);
		if (r)
			return r;
		data = m.iomap.type == FUSE_IOMAP_TYPE_MAPPED ||
		       m.iomap.type == FUSE_IOMAP_TYPE_DELALLOC ||
		       m.iomap.type == FUSE_IOMAP_TYPE_INLINE;
		if (data == (whence == 3)) {
			*result = MAX(cur, off);
			return 0;
		}
		r = iomap_end(ip, FUSE_IOMAP_OP_REPORT, cur, m.iomap.offset + m.iomap.length - cur,
			      0, &m.iomap);
		if (r)
			return r;
		cur = m.iomap.offset + m.iomap.length;
	}
	if (whence == 3)
		return -ENXIO;
	*result = ip->size;
	return 0;
}

/* Before REPORT requests about ip: written back, and iomap at all */
static int report_start(struct km_inode *ip)
{
	int r;

	if ((r = alive()))
		return r;
	if (!ip->iomap)
		return -EOPNOTSUPP;
	return wb_inode(ip);
}

/*
 * The start offsets of the mappings that cover ip (REPORT requests, as
 * FIEMAP sends them): at most max of them in starts, their number in *n.
 */
int km_mappings(struct km_inode *ip, uint64_t *starts, size_t max, size_t *n)
{
	struct km_map m;
	uint64_t cur;
	int r;

	*n = 0;
	if ((r = report_start(ip)))
		return r;
	for (cur = 0; cur < ip->size && *n < max; ) {
		r = iomap_begin(ip, FUSE_IOMAP_OP_REPORT, cur, ip->size - cur, &m);
		if (r)
			return r;
		starts[(*n)++] = cur;
		cur = m.iomap.offset + m.iomap.length;
	}
	return 0;
}

int km_fiemap(struct km_inode *ip, char *out, size_t outlen)
{
	struct km_map m;
	uint64_t cur, s = 0, l = 0;
	int r, type = -1;
	size_t n = 0;

	if ((r = report_start(ip)))
		return r;
	out[0] = 0;
	for (cur = 0; cur < ip->size; ) {
		r = iomap_begin(ip, FUSE_IOMAP_OP_REPORT, cur, ip->size - cur, &m);
		if (r)
			return r;
		if (type >= 0 && (m.iomap.type != type || s + l != cur)) {
			n += snprintf(out + n, outlen > n ? outlen - n : 0, "%s%llu+%llu:%s",
				      n ? " " : "", (unsigned long long)s,
				      (unsigned long long)l, km_type_name(type));
			type = -1;
		}
		r = iomap_end(ip, FUSE_IOMAP_OP_REPORT, cur, m.iomap.offset + m.iomap.length - cur,
			      m.iomap.offset + m.iomap.length - cur, &m.iomap);
		if (r)
			return r;
		if (m.iomap.type != FUSE_IOMAP_TYPE_HOLE) {
			if (type < 0) {
				type = m.iomap.type;
				s = cur;
				l = 0;
			}
			l += MIN(m.iomap.offset + m.iomap.length, (ip->size + BS - 1) / BS * BS) - cur;
		}
		cur = m.iomap.offset + m.iomap.length;
	}
	if (type >= 0)
		snprintf(out + n, outlen > n ? outlen - n : 0, "%s%llu+%llu:%s", n ? " " : "",
			 (unsigned long long)s, (unsigned long long)l, km_type_name(type));
	return 0;
}

int km_freeze(void)
{
	struct fuse_freezefs_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	int r;

	if (!K->iomap)
		return -EOPNOTSUPP;
	if ((r = km_syncfs()))
		return r;
	r = km_call(FUSE_FREEZE_FS, K->root_id, &iov, 1, NULL, 0, NULL);
	return r == -ENOSYS ? -EOPNOTSUPP : r;
}

int km_thaw(void)
{
	int r;

	if (!K->iomap)
		return -EOPNOTSUPP;
	if ((r = alive()))
		return r;
	r = km_call(FUSE_UNFREEZE_FS, K->root_id, NULL, 0, NULL, 0, NULL);
	return r == -ENOSYS ? 0 : r;
}

/*
 * The machine goes down: the server dies (SIGKILL) and dirty pages are
 * lost; what the server had written, and what writeback had put on the
 * devices, stays.  Nothing more is sent.
 */
int km_crash(void)
{
	struct km_inode *ip;

	if (K->dead)
		return -ENOTCONN;
	FOR_EACH_INODE(ip)
		pc_drop_all(ip, 1);
	kill(K->pid, SIGKILL);		/* km_finish() collects it */
	K->crashed = 1;
	K->dead = 1;
	return 0;
}

int km_shutdown(void)
{
	struct fuse_shutdownfs_in in = { 0 };
	struct iovec iov = { &in, sizeof(in) };

	if (!K->iomap)
		return -EOPNOTSUPP;
	km_call(FUSE_SHUTDOWN_FS, K->root_id, &iov, 1, NULL, 0, NULL);
	shut_down = 1;
	return 0;
}

/* ---------------------------------------------------------------- notifications */

static int cache_target(uint64_t nodeid, uint64_t attr_ino, const char *what,
			struct km_inode **ipp)
{
	struct km_inode *ip;

	if (!K->iomap) {
		km_violation("%s on a connection without iomap (-EINVAL)", what);
		return -EINVAL;
	}
	ip = ifind(nodeid);
	if (!ip || !ip->mode) {
		if (K->verbose)
			fprintf(stderr, "kmodel: %s for unknown nodeid %llu: -ESTALE\n", what,
				(unsigned long long)nodeid);
		return -ESTALE;
	}
	if (ip->ino != attr_ino) {
		km_violation("%s: nodeid %llu has ino %llu, notification says %llu (-EINVAL)",
			     what, (unsigned long long)nodeid, (unsigned long long)ip->ino,
			     (unsigned long long)attr_ino);
		return -EINVAL;
	}
	if (!ip->iomap) {
		km_violation("%s for nodeid %llu which does not use iomap (-EINVAL)", what,
			     (unsigned long long)nodeid);
		return -EINVAL;
	}
	*ipp = ip;
	return 0;
}

void km_notify(const struct fuse_out_header *oh, const void *payload, size_t len)
{
	struct km_inode *ip;
	struct km_vctx v;
	const char *why;
	uint64_t drops;
	int err;

	switch (oh->error) {
	case FUSE_NOTIFY_IOMAP_UPSERT_MAPPINGS: {
		struct fuse_iomap_upsert_mappings_out u;

		if (len != sizeof(u)) {
			km_violation("UPSERT_MAPPINGS payload of %zu bytes (-EINVAL)", len);
			return;
		}
		memcpy(&u, payload, sizeof(u));
		if (cache_target(u.nodeid, u.attr_ino, "UPSERT_MAPPINGS", &ip))
			return;
		vctx(ip, &v);
		why = km_validate_upsert(&v, &u, &err);
		if (why) {
			char rs[160], ws[160];

			km_format_map(rs, sizeof(rs), &u.read);
			km_format_map(ws, sizeof(ws), &u.write);
			km_violation("UPSERT_MAPPINGS(nodeid %llu) read=%s write=%s breaks rule: %s",
				     (unsigned long long)u.nodeid, rs, ws, why);
			return;
		}
		K->last_upsert = u;
		K->last_upsert_valid = 1;
		if (K->trace_maps) {
			char rs[160];

			km_format_map(rs, sizeof(rs), &u.read);
			fprintf(stderr, "kmodel: trace: UPSERT_MAPPINGS(nodeid %llu) read=%s\n",
				(unsigned long long)u.nodeid, rs);
		}
		if (!K->use_cache)
			return;
		if (!ip->mc.present)
			km_mcache_init(&ip->mc, K->cache_maxbytes);
		K->cache_upserts++;
		drops = ip->mc.drops;
		km_mcache_upsert(&ip->mc, 0, &u.read);
		km_mcache_upsert(&ip->mc, 1, &u.write);
		K->cache_drops += ip->mc.drops - drops;
		return;
	}
	case FUSE_NOTIFY_IOMAP_INVAL_MAPPINGS: {
		struct fuse_iomap_inval_mappings_out iv;

		if (len != sizeof(iv)) {
			km_violation("INVAL_MAPPINGS payload of %zu bytes (-EINVAL)", len);
			return;
		}
		memcpy(&iv, payload, sizeof(iv));
		if (cache_target(iv.nodeid, iv.attr_ino, "INVAL_MAPPINGS", &ip))
			return;
		vctx(ip, &v);
		if ((why = km_validate_inval(&v, &iv.read)) ||
		    (why = km_validate_inval(&v, &iv.write))) {
			km_violation("INVAL_MAPPINGS(nodeid %llu) read=%llu+%llu write=%llu+%llu "
				     "breaks rule: %s", (unsigned long long)iv.nodeid,
				     (unsigned long long)iv.read.offset,
				     (unsigned long long)iv.read.length,
				     (unsigned long long)iv.write.offset,
				     (unsigned long long)iv.write.length, why);
			return;
		}
		K->cache_invals++;
		if (K->trace_maps)
			fprintf(stderr, "kmodel: trace: INVAL_MAPPINGS(nodeid %llu) read=%llu+%llu\n",
				(unsigned long long)iv.nodeid,
				(unsigned long long)iv.read.offset,
				(unsigned long long)iv.read.length);
		km_mcache_inval(&ip->mc, 0, iv.read.offset, iv.read.length);
		km_mcache_inval(&ip->mc, 1, iv.write.offset, iv.write.length);
		if (K->stale_saved && K->stale_ip == ip) {
			km_mcache_inval(K->stale_saved, 0, iv.read.offset, iv.read.length);
			km_mcache_inval(K->stale_saved, 1, iv.write.offset, iv.write.length);
		}
		return;
	}
	case FUSE_NOTIFY_IOMAP_DEV_INVAL: {
		struct fuse_iomap_dev_inval_out d;

		if (len != sizeof(d)) {
			km_violation("DEV_INVAL payload of %zu bytes (-EINVAL)", len);
			return;
		}
		memcpy(&d, payload, sizeof(d));
		if (!K->iomap || d.dev == 0)
			km_violation("DEV_INVAL without iomap or for device 0 (-EINVAL)");
		else if (d.dev > KM_MAX_DEVS || K->devs[d.dev].fd < 0)
			km_violation("DEV_INVAL for unregistered device %u (-ENODEV)", d.dev);
		else if (d.range.length && (d.range.offset >= K->devs[d.dev].size ||
					    d.range.offset + d.range.length < d.range.offset))
			km_violation("DEV_INVAL range %llu+%llu outside device %u (-EINVAL)",
				     (unsigned long long)d.range.offset,
				     (unsigned long long)d.range.length, d.dev);
		return;
	}
	default:
		if (K->verbose)
			fprintf(stderr, "kmodel: notification %d (%zu bytes) ignored\n",
				oh->error, len);
	}
}

/* ---------------------------------------------------------------- mount/unmount */

int km_init(struct km_conn *k)
{
	struct fuse_init_in in = { 0 };
	struct fuse_init_out out = { 0 };
	struct iovec iov = { &in, sizeof(in) };
	struct km_inode *root;
	size_t len;
	uint64_t flags;
	int r;

	in.major = FUSE_KERNEL_VERSION;
	in.minor = k->want_iomap ? KM_MINOR_IOMAP : KM_MINOR_CLASSIC;
	in.max_readahead = 128 << 10;
	/*
	 * Offered as the kernel offers them.  The kernel has offered
	 * HANDLE_KILLPRIV (the server clears setuid/setgid on write and
	 * truncate) since 4.9; libfuse aborts INIT when a server wants a
	 * capability the kernel did not offer.
	 */
	in.flags = FUSE_ASYNC_READ | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT |
		   FUSE_BIG_WRITES | FUSE_DONT_MASK | FUSE_PARALLEL_DIROPS |
		   FUSE_HANDLE_KILLPRIV | FUSE_INIT_EXT;
	if (k->want_iomap && !k->refuse_iomap)
		in.flags2 = (uint32_t)(FUSE_IOMAP >> 32);
	r = km_call(FUSE_INIT, 0, &iov, 1, &out, sizeof(out), &len);
	if (r) {
		fprintf(stderr, "kmodel: INIT failed: %s\n", strerror(-r));
		return r;
	}
	if (len < 24 || out.major != FUSE_KERNEL_VERSION) {
		fprintf(stderr, "kmodel: INIT reply: protocol %u.%u, %zu bytes: unusable\n",
			out.major, out.minor, len);
		return -EPROTO;
	}
	k->minor = out.minor < in.minor ? out.minor : in.minor;
	flags = out.flags;
	if (out.flags & FUSE_INIT_EXT)
		flags |= (uint64_t)out.flags2 << 32;
	k->init_flags = flags;
	k->max_write = out.max_write < 4096 ? 4096 : out.max_write;
	if (k->max_write > (1u << 20))
		k->max_write = 1u << 20;
	k->max_read = KM_MAX_READ;
	k->iomap = k->want_iomap && (flags & FUSE_IOMAP);
	fprintf(stderr, "kmodel: INIT: protocol 7.%u (server 7.%u), max_write %u%s\n",
		k->minor, out.minor, k->max_write,
		k->iomap ? ", EXPERIMENTAL iomap feature enabled" :
		k->refuse_iomap ? ", iomap not offered" :
		k->want_iomap ? ", server declined iomap" : "");
	root = km_iget(K->root_id);
	root->mode = S_IFDIR | 0755;
	if (!k->iomap)
		return 0;

	{
		struct fuse_iomap_config_in ci = { 0 };
		struct fuse_iomap_config_out co;
		const char *why;

		ci.flags = FUSE_IOMAP_CONFIG_ALL;
		ci.maxbytes = KM_MAX_LFS_FILESIZE;
		ci.cache_maxbytes = k->cache_maxbytes;
		if (k->cache_maxbytes < KM_CACHE_MIN_MAXBYTES)
			k->cache_maxbytes = KM_CACHE_MIN_MAXBYTES;
		if (k->cache_maxbytes > KM_CACHE_MAX_MAXBYTES)
			k->cache_maxbytes = KM_CACHE_MAX_MAXBYTES;
		iov = (struct iovec){ &ci, sizeof(ci) };
		memset(&co, 0, sizeof(co));
		r = km_call(FUSE_IOMAP_CONFIG, 0, &iov, 1, &co, sizeof(co), &len);
		if (r == -ENOSYS)
			return 0;
		if (r) {
			fprintf(stderr, "kmodel: could not configure iomap, err=%d\n", r);
			return r;
		}
		why = km_validate_config(&co, len);
		if (why) {
			km_violation("IOMAP_CONFIG reply (%zu bytes, flags 0x%llx) breaks rule: %s",
				     len, (unsigned long long)co.flags, why);
			return -EINVAL;
		}
		if (co.flags & FUSE_IOMAP_CONFIG_BLOCKSIZE)
			k->blocksize = co.s_blocksize;
		if (co.flags & FUSE_IOMAP_CONFIG_MAXBYTES)
			k->maxbytes = co.s_maxbytes;
		if ((co.flags & FUSE_IOMAP_CONFIG_CACHE_MAXBYTES) && co.cache_maxbytes) {
			k->cache_maxbytes = co.cache_maxbytes;
			if (k->cache_maxbytes < KM_CACHE_MIN_MAXBYTES)
				k->cache_maxbytes = KM_CACHE_MIN_MAXBYTES;
			if (k->cache_maxbytes > KM_CACHE_MAX_MAXBYTES)
				k->cache_maxbytes = KM_CACHE_MAX_MAXBYTES;
		}
		k->iomap_configured = 1;
		fprintf(stderr, "kmodel: IOMAP_CONFIG: block size %u, maxbytes %lld, cache %u bytes%s%.32s\n",
			k->blocksize, (long long)k->maxbytes, k->cache_maxbytes,
			(co.flags & FUSE_IOMAP_CONFIG_SID) ? ", s_id " : "",
			(co.flags & FUSE_IOMAP_CONFIG_SID) ? co.s_id : "");
	}
	return 0;
}

int km_unmount(struct km_conn *k)
{
	struct km_inode *ip;
	struct fuse_forget_in fi;
	int r, ret = 0;

	if (!k->dead) {
		/* after a shutdown, writeback fails and unmount goes on */
		r = wb_all();
		if (r && !shut_down)
			ret = r;
		FOR_EACH_INODE(ip)
			km_close(ip);
		if (k->iomap && !shut_down && !k->no_syncfs) {
			struct fuse_syncfs_in in = { 0 };
			struct iovec iov = { &in, sizeof(in) };

			r = km_call(FUSE_SYNCFS, K->root_id, &iov, 1, NULL, 0, NULL);
			if (r && r != -ENOSYS && !ret)
				ret = r;
		}
		sync_devs();
		km_flush_requests();
		FOR_EACH_INODE(ip) {
			if (ip->nlookup && ip->nodeid != K->root_id) {
				fi.nlookup = ip->nlookup;
				km_send_noreply(FUSE_FORGET, ip->nodeid, &fi, sizeof(fi));
				ip->nlookup = 0;
			}
			/* evicted: the server may now close its iomap devices */
			ip->iomap = 0;
		}
		/* fuse_iomap_unmount(): flush pending requests, then DESTROY */
		km_flush_requests();
		r = km_call(FUSE_DESTROY, 0, NULL, 0, NULL, 0, NULL);
		if (r && r != -ENOSYS)
			fprintf(stderr, "kmodel: DESTROY: %s\n", strerror(-r));
	}
	FOR_EACH_INODE(ip)
		pc_drop_all(ip, 1);
	for (int i = 1; i <= KM_MAX_DEVS; i++)
		if (k->devs[i].fd >= 0) {
			close(k->devs[i].fd);
			if (k->devs[i].dfd >= 0)
				close(k->devs[i].dfd);
			k->devs[i].fd = k->devs[i].dfd = -1;
			if (k->devs[i].meta)
				free(k->devs[i].meta->kind);
			free(k->devs[i].meta);
			k->devs[i].meta = NULL;
		}
	return ret;
}
