/*
 * mcache.c - model of the kernel's per-inode iomap mapping cache (spec
 * 3.19): a read fork and a write fork of non-overlapping extents, a
 * sequence number bumped on every change, and a memory limit per fork
 * beyond which the whole fork is dropped.
 */
#include <stdlib.h>
#include <string.h>
#include "kmodel.h"

void km_mcache_init(struct km_mcache *c, uint32_t maxbytes)
{
	memset(c, 0, sizeof(*c));
	c->seq = 1;
	if (maxbytes == 0)
		maxbytes = KM_DEFAULT_CACHE_MAXBYTES;
	c->maxbytes = maxbytes;
}

static void fork_clear(struct km_fork *f)
{
	free(f->ext);
	memset(f, 0, sizeof(*f));
}

void km_mcache_free(struct km_mcache *c)
{
	fork_clear(&c->fork[0]);
	fork_clear(&c->fork[1]);
	c->present = 0;
	c->seq++;
}

/* dst becomes a copy of src: 0, or -1 without memory (dst empty) */
int km_mcache_copy(struct km_mcache *dst, const struct km_mcache *src)
{
	int i;

	*dst = *src;
	for (i = 0; i < 2; i++) {
		const struct km_fork *f = &src->fork[i];

		dst->fork[i].ext = NULL;
		dst->fork[i].cap = 0;
		dst->fork[i].n = 0;
		if (!f->n)
			continue;
		dst->fork[i].ext = malloc(f->n * sizeof(*f->ext));
		if (!dst->fork[i].ext) {
			km_mcache_free(dst);
			return -1;
		}
		memcpy(dst->fork[i].ext, f->ext, f->n * sizeof(*f->ext));
		dst->fork[i].n = dst->fork[i].cap = f->n;
	}
	return 0;
}

static int fork_insert(struct km_fork *f, size_t at, const struct fuse_iomap_io *m)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct km_extent *e = realloc(f->ext, cap * sizeof(*e));

		if (!e)
			return -1;
		f->ext = e;
		f->cap = cap;
	}
	memmove(&f->ext[at + 1], &f->ext[at], (f->n - at) * sizeof(*f->ext));
	f->ext[at].map = *m;
	f->n++;
	return 0;
}

/* Remove [off, off+len) from a fork, trimming or splitting extents. */
static void fork_punch(struct km_fork *f, uint64_t off, uint64_t len)
{
	uint64_t end = len == FUSE_IOMAP_INVAL_TO_EOF || off + len < off ? UINT64_MAX : off + len;
	size_t i = 0;

	while (i < f->n) {
		struct fuse_iomap_io *e = &f->ext[i].map;
		uint64_t es = e->offset, ee = e->offset + e->length;

		if (ee <= off || es >= end) {
			i++;
			continue;
		}
		if (es < off && ee > end) {
			/* split into two */
			struct fuse_iomap_io tail = *e;

			tail.offset = end;
			tail.length = ee - end;
			if (tail.addr != FUSE_IOMAP_NULL_ADDR)
				tail.addr += end - es;
			e->length = off - es;
			fork_insert(f, i + 1, &tail);
			return;
		}
		if (es < off) {
			e->length = off - es;
			i++;
		} else if (ee > end) {
			if (e->addr != FUSE_IOMAP_NULL_ADDR)
				e->addr += end - es;
			e->offset = end;
			e->length = ee - end;
			i++;
		} else {
			memmove(e, e + 1, (f->n - i - 1) * sizeof(*f->ext));
			f->n--;
		}
	}
}

static int mergeable(const struct fuse_iomap_io *a, const struct fuse_iomap_io *b)
{
	if (a->offset + a->length != b->offset || a->type != b->type ||
	    a->flags != b->flags || a->dev != b->dev)
		return 0;
	if (a->addr == FUSE_IOMAP_NULL_ADDR)
		return b->addr == FUSE_IOMAP_NULL_ADDR;
	return a->addr + a->length == b->addr;
}

void km_mcache_upsert(struct km_mcache *c, int forkno, const struct fuse_iomap_io *m)
{
	struct km_fork *f = &c->fork[forkno];
	size_t i;

	if (m->type == FUSE_IOMAP_TYPE_NOCACHE)
		return;
	c->present = 1;
	c->upserts++;
	c->seq++;
	f->present = 1;
	fork_punch(f, m->offset, m->length);
	for (i = 0; i < f->n && f->ext[i].map.offset < m->offset; i++)
		;
	if (i > 0 && mergeable(&f->ext[i - 1].map, m)) {
		f->ext[i - 1].map.length += m->length;
		if (i < f->n && mergeable(&f->ext[i - 1].map, &f->ext[i].map)) {
			f->ext[i - 1].map.length += f->ext[i].map.length;
			memmove(&f->ext[i], &f->ext[i + 1], (f->n - i - 1) * sizeof(*f->ext));
			f->n--;
		}
	} else if (i < f->n && mergeable(m, &f->ext[i].map)) {
		uint64_t l = f->ext[i].map.length;

		f->ext[i].map = *m;
		f->ext[i].map.length += l;
	} else if (fork_insert(f, i, m) < 0) {
		fork_clear(f);
	}
	if (f->n * KM_EXTENT_COST > c->maxbytes) {
		/* over the limit: the kernel drops the whole fork */
		fork_clear(f);
		f->present = 1;
		c->drops++;
	}
}

void km_mcache_inval(struct km_mcache *c, int forkno, uint64_t off, uint64_t len)
{
	if (!c->present || len == 0)
		return;
	c->invals++;
	c->seq++;
	fork_punch(&c->fork[forkno], off, len);
}

int km_mcache_lookup(const struct km_mcache *c, int forkno, uint64_t pos,
		     struct fuse_iomap_io *map)
{
	const struct km_fork *f = &c->fork[forkno];
	size_t lo = 0, hi = f->n;

	if (!c->present || !f->present)
		return -1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct fuse_iomap_io *e = &f->ext[mid].map;

		if (pos < e->offset)
			hi = mid;
		else if (pos >= e->offset + e->length)
			lo = mid + 1;
		else {
			*map = *e;
			return 1;
		}
	}
	return 0;
}
