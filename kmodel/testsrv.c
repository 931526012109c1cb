/*
 * testsrv - a small FUSE server that is not ext4, for kmodel's own tests.
 *
 *   testsrv DEVICE /dev/fd/N [-o OPT[,OPT...]]
 *
 * Serves a flat directory of regular files whose data lives in blocks of
 * DEVICE (a block device, or a regular file when kmodel runs with
 * --allow-regular).  Metadata lives in memory only.  With iomap negotiated
 * it registers DEVICE with FUSE_DEV_IOC_BACKING_OPEN and answers
 * IOMAP_BEGIN with MAPPED / UNWRITTEN / HOLE mappings (writes allocate
 * unwritten blocks, IOEND converts them); otherwise it serves FUSE_READ and
 * FUSE_WRITE itself.  Block 0 is reserved, so a mapping to it would point
 * into "metadata".  It speaks the raw wire protocol (no libfuse).
 *
 * options: noiomap     decline iomap in INIT
 *          cache       upsert mappings into the kernel cache and answer
 *                      RETRY_CACHE; invalidate what allocation changes
 *          cow         buffered writes over written blocks go out of place:
 *                      the write mapping is a staging run (F_SHARED), the
 *                      IOEND (SHARED) remaps it; not with cache
 *          root_nodeid=N  the root directory's node id (default 1); files
 *                      follow it
 *          inline      new files keep their first block inline (in
 *                      memory): INLINE mappings, data through FUSE_READ and
 *                      FUSE_WRITE without a file handle, until a write or
 *                      fallocate beyond the first block moves it to disk
 *          bad=RULE    break one kernel rule on purpose: misaligned, nodev,
 *                      beyond, notcontain, config, upsert, endonly, attr,
 *                      errbody (error replies carry a body), noinval
 *                      (with cache: allocation leaves cached holes); or
 *                      misbehave: crash (abort) or hang (never answer) on
 *                      the first IOMAP_BEGIN
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "fuse_wire.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE	0x01
#define FALLOC_FL_PUNCH_HOLE	0x02
#define FALLOC_FL_ZERO_RANGE	0x10
#endif

#define BSZ		4096u
#define MAXFILES	64
#define MAXBLOCKS	16384		/* 64 MiB per file */

enum { HOLE, UNWR, DATA };

struct file {
	char name[64];
	int used;
	uint64_t size;
	uint32_t mode;
	uint64_t blk[MAXBLOCKS];	/* device block numbers */
	uint8_t st[MAXBLOCKS];
	uint64_t cow[MAXBLOCKS];	/* staging block of a pending out-of-place write */
	int inl;			/* first block lives in idata */
	uint8_t idata[BSZ];
};

static struct file files[MAXFILES];
static uint8_t *bitmap;
static uint64_t nblocks;
static int fusefd, devfd, devid, iomap, opt_noiomap, opt_cache, opt_inline, opt_cow;
static const char *bad = "";
static uint64_t root_id = FUSE_ROOT_ID;

/* Next fit from where the last allocation ended. */
static uint64_t alloc_block(void)
{
	static uint64_t rotor = 1;
	uint64_t i, b;

	for (i = 0; i < nblocks; i++) {
		b = (rotor + i) % nblocks;
		if (b && !bitmap[b]) {
			bitmap[b] = 1;
			rotor = b + 1;
			return b;
		}
	}
	return 0;
}

static void free_blocks(struct file *f, uint64_t from, uint64_t to)
{
	for (; from < to && from < MAXBLOCKS; from++) {
		if (f->st[from] != HOLE)
			bitmap[f->blk[from]] = 0;
		if (f->cow[from])
			bitmap[f->cow[from]] = 0;
		f->cow[from] = 0;
		f->st[from] = HOLE;
	}
}

static void reply(uint64_t unique, int err, const void *a, size_t alen, const void *b,
		  size_t blen)
{
	static const uint64_t junk;
	struct fuse_out_header oh = { sizeof(oh) + alen + blen, err, unique };
	struct iovec iov[3] = { { &oh, sizeof(oh) }, { (void *)a, alen }, { (void *)b, blen } };
	int n = 3;

	if (err && !strcmp(bad, "errbody")) {
		iov[1] = (struct iovec){ (void *)&junk, sizeof(junk) };
		oh.len = sizeof(oh) + sizeof(junk);
		n = 2;
	} else if (err) {
		oh.len = sizeof(oh);
		n = 1;
	}
	if (writev(fusefd, iov, n) < 0)
		perror("testsrv: reply");
}

static void notify(int code, const void *p, size_t len)
{
	struct fuse_out_header oh = { sizeof(oh) + len, code, 0 };
	struct iovec iov[2] = { { &oh, sizeof(oh) }, { (void *)p, len } };

	if (writev(fusefd, iov, 2) < 0)
		perror("testsrv: notify");
}

static void fill_attr(struct fuse_attr *a, uint64_t nodeid)
{
	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->blksize = BSZ;
	a->nlink = 1;
	if (nodeid == root_id) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		return;
	}
	struct file *f = &files[nodeid - root_id - 1];

	a->mode = f->mode;
	a->size = f->size;
	for (int i = 0; i < MAXBLOCKS; i++)
		a->blocks += f->st[i] != HOLE ? BSZ / 512 : 0;
	if (iomap)
		a->flags = FUSE_ATTR_IOMAP | FUSE_ATTR_EXCLUSIVE;
	if (!strcmp(bad, "attr"))
		a->mode &= ~S_IFMT;
}

static void reply_entry(uint64_t unique, uint64_t nodeid, const struct fuse_open_out *oo)
{
	struct fuse_entry_out e = { 0 };

	e.nodeid = nodeid;
	fill_attr(&e.attr, nodeid);
	reply(unique, 0, &e, sizeof(e), oo, oo ? sizeof(*oo) : 0);
}

static struct file *lookup(const char *name, uint64_t *nodeid)
{
	for (int i = 0; i < MAXFILES; i++)
		if (files[i].used && !strcmp(files[i].name, name)) {
			*nodeid = i + root_id + 1;
			return &files[i];
		}
	return NULL;
}

static struct file *node(uint64_t nodeid)
{
	if (nodeid <= root_id || nodeid > root_id + MAXFILES || !files[nodeid - root_id - 1].used)
		return NULL;
	return &files[nodeid - root_id - 1];
}

/* The mapping at pos: a run of blocks with the same state, contiguous on disk. */
static void mapping(struct file *f, uint64_t pos, uint64_t count, struct fuse_iomap_io *m)
{
	uint64_t b = pos / BSZ, e = b + 1, lim = (pos + count + BSZ - 1) / BSZ;

	if (lim > MAXBLOCKS)
		lim = MAXBLOCKS;
	while (e < lim && f->st[e] == f->st[b] &&
	       (f->st[b] == HOLE || f->blk[e] == f->blk[e - 1] + 1))
		e++;
	memset(m, 0, sizeof(*m));
	m->offset = b * BSZ;
	m->length = (e - b) * BSZ;
	if (f->st[b] == HOLE) {
		m->type = FUSE_IOMAP_TYPE_HOLE;
		m->addr = FUSE_IOMAP_NULL_ADDR;
	} else {
		m->type = f->st[b] == DATA ? FUSE_IOMAP_TYPE_MAPPED : FUSE_IOMAP_TYPE_UNWRITTEN;
		m->addr = f->blk[b] * BSZ;
		m->dev = devid;
	}
}

static void inval_cache(uint64_t nodeid, uint64_t off, uint64_t len)
{
	struct fuse_iomap_inval_mappings_out iv = { 0 };

	if (!opt_cache)
		return;
	iv.nodeid = iv.attr_ino = nodeid;
	iv.read.offset = off / BSZ * BSZ;
	iv.read.length = len == FUSE_IOMAP_INVAL_TO_EOF ? len :
			 (off + len + BSZ - 1) / BSZ * BSZ - iv.read.offset;
	notify(FUSE_NOTIFY_IOMAP_INVAL_MAPPINGS, &iv, sizeof(iv));
}

/* Move inline data to a real block; 0 or -ENOSPC. */
static int uninline(struct file *f, uint64_t nodeid)
{
	uint64_t nb;

	if (!f->inl)
		return 0;
	if (!(nb = alloc_block()))
		return -ENOSPC;
	if (pwrite(devfd, f->idata, BSZ, nb * BSZ) != BSZ)
		return -EIO;
	f->blk[0] = nb;
	f->st[0] = DATA;
	f->inl = 0;
	inval_cache(nodeid, 0, BSZ);
	return 0;
}

/*
 * Out of place: staging blocks for (a prefix of) the written run in the
 * read mapping, physically contiguous, reused until IOEND remaps them.
 */
static void cow_mapping(struct file *f, struct fuse_iomap_begin_out *out)
{
	uint64_t b = out->read.offset / BSZ, e = b + out->read.length / BSZ, n;

	for (n = b; n < e; n++) {
		if (!f->cow[n] && !(f->cow[n] = alloc_block()))
			break;
		if (n > b && f->cow[n] != f->cow[n - 1] + 1)
			break;
	}
	if (n == b)
		return;		/* no space: overwrite in place */
	out->write = out->read;
	out->write.length = (n - b) * BSZ;
	out->write.addr = f->cow[b] * BSZ;
	out->write.flags = FUSE_IOMAP_F_SHARED;
	out->read.length = out->write.length;
}

static void iomap_begin(uint64_t unique, uint64_t nodeid, const struct fuse_iomap_begin_in *in)
{
	struct fuse_iomap_begin_out out;
	struct file *f = node(nodeid);
	uint64_t b, e, allocated = 0;

	if (!strcmp(bad, "crash"))
		abort();
	if (!strcmp(bad, "hang"))
		for (;;)
			pause();
	if (!f)
		return reply(unique, -ENOENT, NULL, 0, NULL, 0);
	if (in->pos >= (uint64_t)MAXBLOCKS * BSZ)
		return reply(unique, -EFBIG, NULL, 0, NULL, 0);
	if (f->inl && in->pos < BSZ) {
		memset(&out, 0, sizeof(out));
		out.read.length = BSZ;
		out.read.addr = FUSE_IOMAP_NULL_ADDR;
		out.read.type = FUSE_IOMAP_TYPE_INLINE;
		out.write.type = FUSE_IOMAP_TYPE_PURE_OVERWRITE;
		out.write.addr = FUSE_IOMAP_NULL_ADDR;
		return reply(unique, 0, &out, sizeof(out), NULL, 0);
	}
	if (f->inl && (in->opflags & FUSE_IOMAP_OP_WRITE_MASK)) {
		int r = uninline(f, nodeid);

		if (r)
			return reply(unique, r, NULL, 0, NULL, 0);
	}
	if ((in->opflags & FUSE_IOMAP_OP_WRITE_MASK) && !(in->opflags & FUSE_IOMAP_OP_ZERO)) {
		b = in->pos / BSZ;
		e = (in->pos + in->count + BSZ - 1) / BSZ;
		if (e > b + 256)
			e = b + 256;
		if (e > MAXBLOCKS)
			e = MAXBLOCKS;
		/* allocate only the first run of holes so one mapping covers it */
		for (; b < e && f->st[b] == HOLE; b++) {
			uint64_t nb = alloc_block();

			if (!nb) {
				if (!allocated)
					return reply(unique, -ENOSPC, NULL, 0, NULL, 0);
				break;
			}
			f->blk[b] = nb;
			f->st[b] = UNWR;
			allocated++;
		}
		if (allocated && strcmp(bad, "noinval"))
			inval_cache(nodeid, in->pos, allocated * BSZ);
	}
	mapping(f, in->pos, in->count, &out.read);
	if (allocated) {
		/* only the freshly allocated run, flagged NEW */
		if (out.read.length > allocated * BSZ)
			out.read.length = allocated * BSZ;
		out.read.flags |= FUSE_IOMAP_F_NEW;
	}
	memset(&out.write, 0, sizeof(out.write));
	out.write.type = FUSE_IOMAP_TYPE_PURE_OVERWRITE;
	out.write.addr = FUSE_IOMAP_NULL_ADDR;
	if (opt_cow && out.read.type == FUSE_IOMAP_TYPE_MAPPED &&
	    (in->opflags & (FUSE_IOMAP_OP_WRITE | FUSE_IOMAP_OP_WRITEBACK)) &&
	    !(in->opflags & (FUSE_IOMAP_OP_ZERO | FUSE_IOMAP_OP_DIRECT)))
		cow_mapping(f, &out);

	if (out.read.type != FUSE_IOMAP_TYPE_HOLE) {
		if (!strcmp(bad, "misaligned"))
			out.read.addr += 512, out.read.offset += 512;
		else if (!strcmp(bad, "nodev"))
			out.read.dev = 0;
		else if (!strcmp(bad, "beyond"))
			out.read.addr = nblocks * BSZ;
	}
	if (!strcmp(bad, "notcontain"))
		out.read.offset += out.read.length;
	if (!strcmp(bad, "endonly"))
		out.read.flags |= FUSE_IOMAP_F_SIZE_CHANGED;

	if (opt_cache && !(in->opflags & FUSE_IOMAP_OP_NOCACHE_MASK)) {
		struct fuse_iomap_upsert_mappings_out u = { 0 };

		u.nodeid = u.attr_ino = nodeid;
		u.read = out.read;
		u.read.flags &= ~FUSE_IOMAP_F_NEW;
		u.write.type = FUSE_IOMAP_TYPE_NOCACHE;
		u.write.addr = FUSE_IOMAP_NULL_ADDR;
		if (!strcmp(bad, "upsert"))
			u.read.type = FUSE_IOMAP_TYPE_PURE_OVERWRITE;
		if (!allocated && !(in->opflags & FUSE_IOMAP_OP_WRITE_MASK)) {
			/* reads: let the kernel find it in its cache */
			notify(FUSE_NOTIFY_IOMAP_UPSERT_MAPPINGS, &u, sizeof(u));
			memset(&out.read, 0, sizeof(out.read));
			out.read.type = FUSE_IOMAP_TYPE_RETRY_CACHE;
			out.read.addr = FUSE_IOMAP_NULL_ADDR;
		}
	}
	reply(unique, 0, &out, sizeof(out), NULL, 0);
}

static void iomap_ioend(uint64_t unique, uint64_t nodeid, const struct fuse_iomap_ioend_in *in)
{
	struct fuse_iomap_ioend_out out;
	struct file *f = node(nodeid);
	uint64_t b;

	if (!f)
		return reply(unique, -ENOENT, NULL, 0, NULL, 0);
	if (!in->error && (in->flags & FUSE_IOMAP_IOEND_SHARED)) {
		for (b = in->pos / BSZ; b < (in->pos + in->written + BSZ - 1) / BSZ &&
		     b < MAXBLOCKS; b++) {
			if (!f->cow[b])
				continue;
			if (f->st[b] != HOLE)
				bitmap[f->blk[b]] = 0;
			f->blk[b] = f->cow[b];
			f->st[b] = DATA;
			f->cow[b] = 0;
		}
	}
	if (!in->error && (in->flags & FUSE_IOMAP_IOEND_UNWRITTEN)) {
		for (b = in->pos / BSZ; b < (in->pos + in->written + BSZ - 1) / BSZ &&
		     b < MAXBLOCKS; b++)
			if (f->st[b] == UNWR)
				f->st[b] = DATA;
		inval_cache(nodeid, in->pos, in->written);
	}
	if (!in->error && in->pos + in->written > f->size)
		f->size = in->pos + in->written;
	out.newsize = f->size;
	reply(unique, 0, &out, sizeof(out), NULL, 0);
}

/* Classic data path: the server moves the bytes itself. */
static ssize_t file_io(struct file *f, int wr, uint64_t off, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t p = off + done, b = p / BSZ, o = p % BSZ;
		size_t n = len - done < BSZ - o ? len - done : BSZ - o;

		if (b >= MAXBLOCKS)
			return done ? (ssize_t)done : -EFBIG;
		if (wr && f->st[b] == HOLE) {
			uint8_t z[BSZ] = { 0 };

			if (!(f->blk[b] = alloc_block()))
				return done ? (ssize_t)done : -ENOSPC;
			f->st[b] = DATA;
			if (pwrite(devfd, z, BSZ, f->blk[b] * BSZ) != BSZ)
				return -EIO;
		}
		if (wr && f->st[b] == UNWR) {
			uint8_t z[BSZ] = { 0 };

			f->st[b] = DATA;
			if (pwrite(devfd, z, BSZ, f->blk[b] * BSZ) != BSZ)
				return -EIO;
		}
		if (!wr && f->st[b] != DATA)
			memset(buf + done, 0, n);
		else if ((wr ? pwrite(devfd, buf + done, n, f->blk[b] * BSZ + o) :
			       pread(devfd, buf + done, n, f->blk[b] * BSZ + o)) != (ssize_t)n)
			return -EIO;
		done += n;
	}
	return done;
}

/* Zero [a, e) where it is written data (a block-sized range at most). */
static void zero_bytes(struct file *f, uint64_t a, uint64_t e)
{
	uint8_t z[BSZ] = { 0 };

	if (a < e && f->st[a / BSZ] == DATA)
		file_io(f, 1, a, z, e - a);
}

static void set_size(struct file *f, uint64_t nodeid, uint64_t size)
{
	uint64_t b = (size + BSZ - 1) / BSZ;

	if (f->inl && size < BSZ)
		memset(f->idata + size, 0, BSZ - size);
	free_blocks(f, b, MAXBLOCKS);
	if (!iomap && size % BSZ && f->st[size / BSZ] == DATA) {
		uint8_t z[BSZ] = { 0 };

		if (pwrite(devfd, z, BSZ - size % BSZ, f->blk[size / BSZ] * BSZ + size % BSZ) < 0)
			perror("testsrv: zero tail");
	}
	f->size = size;
	inval_cache(nodeid, b * BSZ, FUSE_IOMAP_INVAL_TO_EOF);
}

static void do_fallocate(uint64_t unique, uint64_t nodeid, const struct fuse_fallocate_in *in)
{
	struct file *f = node(nodeid);
	uint64_t b, end = in->offset + in->length;
	uint64_t fb = (in->offset + BSZ - 1) / BSZ, lb = end / BSZ;
	int err;

	if (!f)
		return reply(unique, -ENOENT, NULL, 0, NULL, 0);
	if (end > (uint64_t)MAXBLOCKS * BSZ)
		return reply(unique, -EFBIG, NULL, 0, NULL, 0);
	if (in->mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		return reply(unique, -EOPNOTSUPP, NULL, 0, NULL, 0);
	if (f->inl && (err = uninline(f, nodeid)))
		return reply(unique, err, NULL, 0, NULL, 0);
	if (in->mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		/* whole blocks: punch frees, zero makes unwritten */
		if (in->mode & FALLOC_FL_PUNCH_HOLE)
			free_blocks(f, fb, lb);
		else
			for (b = fb; b < lb; b++)
				if (f->st[b] == DATA)
					f->st[b] = UNWR;
		if (!iomap) {
			/* no kernel to zero the partial blocks for us */
			zero_bytes(f, in->offset, fb * BSZ < end ? fb * BSZ : end);
			zero_bytes(f, lb * BSZ > in->offset ? lb * BSZ : in->offset, end);
		}
	}
	if (!(in->mode & FALLOC_FL_PUNCH_HOLE)) {
		for (b = in->offset / BSZ; b < (end + BSZ - 1) / BSZ; b++)
			if (f->st[b] == HOLE) {
				if (!(f->blk[b] = alloc_block()))
					return reply(unique, -ENOSPC, NULL, 0, NULL, 0);
				f->st[b] = UNWR;
			}
		if (!(in->mode & FALLOC_FL_KEEP_SIZE) && end > f->size)
			f->size = end;
	}
	inval_cache(nodeid, in->offset, in->length);
	reply(unique, 0, NULL, 0, NULL, 0);
}

static void do_iomap_config(uint64_t unique)
{
	struct fuse_iomap_config_out c = { 0 };
	struct fuse_backing_map map = { devfd, FUSE_BACKING_TYPE_IOMAP, 0 };

	c.flags = FUSE_IOMAP_CONFIG_SID | FUSE_IOMAP_CONFIG_BLOCKSIZE |
		  FUSE_IOMAP_CONFIG_MAXBYTES | FUSE_IOMAP_CONFIG_TIME;
	strcpy(c.s_id, "testsrv");
	c.s_blocksize = BSZ;
	c.s_maxbytes = (int64_t)MAXBLOCKS * BSZ;
	c.s_time_gran = 1;
	c.s_time_max = 1LL << 40;
	if (!strcmp(bad, "config"))
		c.s_pad[0] = 1;
	reply(unique, 0, &c, offsetof(struct fuse_iomap_config_out, cache_maxbytes) + 4,
	      NULL, 0);
	devid = ioctl(fusefd, FUSE_DEV_IOC_BACKING_OPEN, &map);
	if (devid <= 0)
		fprintf(stderr, "testsrv: BACKING_OPEN: %s\n", strerror(errno));
}

static void handle(uint8_t *msg, size_t len)
{
	struct fuse_in_header *ih = (void *)msg;
	void *in = msg + sizeof(*ih);
	uint64_t u = ih->unique, id = ih->nodeid, nid;
	struct file *f;
	int i;

	(void)len;
	switch (ih->opcode) {
	case FUSE_INIT: case FUSE_DESTROY: case FUSE_IOMAP_CONFIG: case FUSE_FORGET:
	case FUSE_BATCH_FORGET: case FUSE_INTERRUPT:
		break;
	case FUSE_LOOKUP: case FUSE_CREATE: case FUSE_UNLINK: case FUSE_RENAME:
	case FUSE_OPENDIR: case FUSE_READDIR: case FUSE_RELEASEDIR: case FUSE_MKDIR:
		if (id != root_id)
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		break;
	default:
		if (id != root_id && !node(id))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
	}
	switch (ih->opcode) {
	case FUSE_INIT: {
		struct fuse_init_in *ii = in;
		struct fuse_init_out o = { 0 };

		o.major = 7;
		o.minor = ii->minor < 99 ? ii->minor : 99;
		o.max_write = 128 << 10;
		o.max_readahead = ii->max_readahead;
		o.flags = FUSE_INIT_EXT | FUSE_BIG_WRITES;
		if (!opt_noiomap && (ii->flags & FUSE_INIT_EXT) &&
		    (ii->flags2 & (uint32_t)(FUSE_IOMAP >> 32))) {
			o.flags2 = (uint32_t)(FUSE_IOMAP >> 32);
			iomap = 1;
		}
		return reply(u, 0, &o, sizeof(o), NULL, 0);
	}
	case FUSE_IOMAP_CONFIG:
		return do_iomap_config(u);
	case FUSE_LOOKUP:
		if (id != root_id || !lookup(in, &nid))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		return reply_entry(u, nid, NULL);
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
		return;
	case FUSE_GETATTR: {
		struct fuse_attr_out ao = { 0 };

		if (id != root_id && !node(id))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		fill_attr(&ao.attr, id);
		return reply(u, 0, &ao, sizeof(ao), NULL, 0);
	}
	case FUSE_SETATTR: {
		struct fuse_setattr_in *si = in;
		struct fuse_attr_out ao = { 0 };

		if (!(f = node(id)))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		if (si->valid & FATTR_SIZE) {
			if (si->size > (uint64_t)MAXBLOCKS * BSZ)
				return reply(u, -EFBIG, NULL, 0, NULL, 0);
			set_size(f, id, si->size);
		}
		fill_attr(&ao.attr, id);
		return reply(u, 0, &ao, sizeof(ao), NULL, 0);
	}
	case FUSE_CREATE: {
		struct fuse_create_in *ci = in;
		const char *name = (char *)(ci + 1);
		struct fuse_open_out oo = { 0 };

		if (lookup(name, &nid))
			return reply(u, -EEXIST, NULL, 0, NULL, 0);
		for (i = 0; i < MAXFILES && files[i].used; i++)
			;
		if (i == MAXFILES || strlen(name) >= sizeof(files[i].name))
			return reply(u, -ENOSPC, NULL, 0, NULL, 0);
		memset(&files[i], 0, sizeof(files[i]));
		files[i].used = 1;
		files[i].mode = S_IFREG | (ci->mode & 07777);
		files[i].inl = iomap && opt_inline;
		strcpy(files[i].name, name);
		return reply_entry(u, i + root_id + 1, &oo);
	}
	case FUSE_OPEN: {
		struct fuse_open_in *oi = in;
		struct fuse_open_out oo = { 0 };

		if (!(f = node(id)))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		if (oi->flags & O_TRUNC)	/* FUSE_ATOMIC_O_TRUNC */
			set_size(f, id, 0);
		return reply(u, 0, &oo, sizeof(oo), NULL, 0);
	}
	case FUSE_READ: {
		struct fuse_read_in *ri = in;
		uint8_t *buf;
		ssize_t n;

		if (!(f = node(id)))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		if (iomap && f->inl) {
			/* inline data: the whole mapping, whatever the size */
			if (ri->offset >= BSZ)
				return reply(u, 0, NULL, 0, NULL, 0);
			return reply(u, 0, f->idata + ri->offset,
				     ri->size < BSZ - ri->offset ? ri->size : BSZ - ri->offset,
				     NULL, 0);
		}
		if (iomap)	/* kmodel must not send READ for block-mapped iomap files */
			return reply(u, -EIO, NULL, 0, NULL, 0);
		if (ri->offset >= f->size)
			return reply(u, 0, NULL, 0, NULL, 0);
		if (ri->size > f->size - ri->offset)
			ri->size = f->size - ri->offset;
		buf = malloc(ri->size);
		n = file_io(f, 0, ri->offset, buf, ri->size);
		reply(u, n < 0 ? (int)n : 0, buf, n < 0 ? 0 : n, NULL, 0);
		free(buf);
		return;
	}
	case FUSE_WRITE: {
		struct fuse_write_in *wi = in;
		struct fuse_write_out wo = { 0 };
		ssize_t n;

		if (!(f = node(id)))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		if (iomap && f->inl) {
			if (wi->offset >= BSZ)
				return reply(u, -EIO, NULL, 0, NULL, 0);
			n = wi->size < BSZ - wi->offset ? wi->size : BSZ - wi->offset;
			memcpy(f->idata + wi->offset, wi + 1, n);
		} else if (iomap) {
			return reply(u, -EIO, NULL, 0, NULL, 0);
		} else {
			n = file_io(f, 1, wi->offset, (uint8_t *)(wi + 1), wi->size);
		}
		if (n < 0)
			return reply(u, n, NULL, 0, NULL, 0);
		if (wi->offset + n > f->size)
			f->size = wi->offset + n;
		wo.size = n;
		return reply(u, 0, &wo, sizeof(wo), NULL, 0);
	}
	case FUSE_UNLINK:
		if (!(f = lookup(in, &nid)))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		free_blocks(f, 0, MAXBLOCKS);
		f->used = 0;
		return reply(u, 0, NULL, 0, NULL, 0);
	case FUSE_RENAME: {
		const char *from = (char *)in + sizeof(struct fuse_rename_in);
		const char *to = from + strlen(from) + 1;
		struct file *g;

		if (!(f = lookup(from, &nid)))
			return reply(u, -ENOENT, NULL, 0, NULL, 0);
		if (strlen(to) >= sizeof(f->name))
			return reply(u, -ENAMETOOLONG, NULL, 0, NULL, 0);
		if ((g = lookup(to, &nid)) && g != f) {
			free_blocks(g, 0, MAXBLOCKS);
			g->used = 0;
		}
		strcpy(f->name, to);
		return reply(u, 0, NULL, 0, NULL, 0);
	}
	case FUSE_OPENDIR:
	case FUSE_RELEASEDIR: {
		struct fuse_open_out oo = { 0 };

		return reply(u, 0, &oo, ih->opcode == FUSE_OPENDIR ? sizeof(oo) : 0, NULL, 0);
	}
	case FUSE_READDIR: {
		struct fuse_read_in *ri = in;
		uint8_t buf[8192];
		size_t n = 0;

		for (i = ri->offset; i < MAXFILES; i++) {
			size_t nl = strlen(files[i].name), rec = (24 + nl + 7) & ~7UL;
			struct fuse_dirent *d = (void *)(buf + n);

			if (!files[i].used)
				continue;
			if (n + rec > ri->size || n + rec > sizeof(buf))
				break;
			memset(d, 0, rec);
			d->ino = i + root_id + 1;
			d->off = i + 1;
			d->namelen = nl;
			d->type = DT_REG;
			memcpy(d->name, files[i].name, nl);
			n += rec;
		}
		return reply(u, 0, buf, n, NULL, 0);
	}
	case FUSE_STATFS: {
		struct fuse_kstatfs st = { 0 };

		st.blocks = nblocks;
		st.bsize = st.frsize = BSZ;
		st.namelen = 63;
		for (uint64_t b = 0; b < nblocks; b++)
			st.bfree += !bitmap[b];
		st.bavail = st.bfree;
		return reply(u, 0, &st, sizeof(st), NULL, 0);
	}
	case FUSE_FALLOCATE:
		return do_fallocate(u, id, in);
	case FUSE_IOMAP_BEGIN:
		return iomap_begin(u, id, in);
	case FUSE_IOMAP_IOEND:
		return iomap_ioend(u, id, in);
	case FUSE_SYNCFS:
	case FUSE_FSYNC:
		fsync(devfd);
		return reply(u, 0, NULL, 0, NULL, 0);
	case FUSE_IOMAP_END:
	case FUSE_RELEASE:
	case FUSE_FREEZE_FS:
	case FUSE_UNFREEZE_FS:
	case FUSE_SHUTDOWN_FS:
	case FUSE_DESTROY:
		return reply(u, 0, NULL, 0, NULL, 0);
	default:
		return reply(u, -ENOSYS, NULL, 0, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	static uint8_t msg[(1 << 20) + 4096];
	struct stat st;
	char *o, *tok, *save;
	ssize_t n;

	if (argc < 3 || strncmp(argv[2], "/dev/fd/", 8)) {
		fprintf(stderr, "usage: testsrv DEVICE /dev/fd/N [-o OPTS]\n");
		return 2;
	}
	if (argc == 5 && !strcmp(argv[3], "-o")) {
		for (o = argv[4]; (tok = strtok_r(o, ",", &save)); o = NULL) {
			if (!strcmp(tok, "noiomap"))
				opt_noiomap = 1;
			else if (!strcmp(tok, "cache"))
				opt_cache = 1;
			else if (!strcmp(tok, "inline"))
				opt_inline = 1;
			else if (!strcmp(tok, "cow"))
				opt_cow = 1;
			else if (!strncmp(tok, "root_nodeid=", 12))
				root_id = strtoull(tok + 12, NULL, 0);
			else if (!strncmp(tok, "bad=", 4))
				bad = tok + 4;
			else {
				fprintf(stderr, "testsrv: unknown option %s\n", tok);
				return 2;
			}
		}
	}
	fusefd = atoi(argv[2] + 8);
	devfd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (devfd < 0 || fstat(devfd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz;

		if (ioctl(devfd, _IOR(0x12, 114, size_t), &sz) < 0)	/* BLKGETSIZE64 */
			return 1;
		nblocks = sz / BSZ;
	} else {
		nblocks = st.st_size / BSZ;
	}
	bitmap = calloc(nblocks, 1);
	while ((n = read(fusefd, msg, sizeof(msg))) > 0) {
		if ((size_t)n < sizeof(struct fuse_in_header))
			return 1;
		handle(msg, n);
	}
	return 0;
}
