/*
 * validate.c - the kernel's rules for what a fuse iomap server may answer
 * (spec 3.2 for IOMAP_CONFIG, 3.5 for IOMAP_BEGIN, 3.19 for the mapping
 * cache notifications).  Each check returns NULL or the name of the rule
 * that was broken, so callers can say exactly what went wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "kmodel.h"

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

const char *km_type_name(unsigned int type)
{
	switch (type) {
	case FUSE_IOMAP_TYPE_HOLE: return "HOLE";
	case FUSE_IOMAP_TYPE_DELALLOC: return "DELALLOC";
	case FUSE_IOMAP_TYPE_MAPPED: return "MAPPED";
	case FUSE_IOMAP_TYPE_UNWRITTEN: return "UNWRITTEN";
	case FUSE_IOMAP_TYPE_INLINE: return "INLINE";
	case FUSE_IOMAP_TYPE_NOCACHE: return "NOCACHE";
	case FUSE_IOMAP_TYPE_RETRY_CACHE: return "RETRY_CACHE";
	case FUSE_IOMAP_TYPE_PURE_OVERWRITE: return "PURE_OVERWRITE";
	default: return "?";
	}
}

void km_format_map(char *buf, size_t len, const struct fuse_iomap_io *m)
{
	snprintf(buf, len, "{offset %llu length %llu addr %s%llx type %s(%u) flags 0x%x dev %u}",
		 (unsigned long long)m->offset, (unsigned long long)m->length,
		 m->addr == FUSE_IOMAP_NULL_ADDR ? "NULL/" : "0x",
		 m->addr == FUSE_IOMAP_NULL_ADDR ? 0ULL : (unsigned long long)m->addr,
		 km_type_name(m->type), m->type, m->flags, m->dev);
}

void km_format_opflags(char *buf, size_t len, uint32_t opflags)
{
	static const char *names[] = { "WRITE", "ZERO", "REPORT", "FAULT", "DIRECT",
		"NOWAIT", "OVERWRITE_ONLY", "UNSHARE", "DAX", "ATOMIC", "DONTCACHE" };
	size_t i, n = 0;

	buf[0] = 0;
	for (i = 0; i < 32; i++) {
		const char *nm = NULL;

		if (!(opflags & (1u << i)))
			continue;
		if (i < sizeof(names) / sizeof(names[0]))
			nm = names[i];
		else if (i == 30)
			nm = "SWAPFILE";
		else if (i == 31)
			nm = "WRITEBACK";
		n += snprintf(buf + n, len > n ? len - n : 0, "%s%s", n ? "|" : "",
			      nm ? nm : "?");
	}
	if (!n)
		snprintf(buf, len, "0");
}

static int known_type(unsigned int t)
{
	return t <= FUSE_IOMAP_TYPE_INLINE || t == FUSE_IOMAP_TYPE_NOCACHE ||
	       t == FUSE_IOMAP_TYPE_RETRY_CACHE || t == FUSE_IOMAP_TYPE_PURE_OVERWRITE;
}

/*
 * One mapping as the kernel's fuse_iomap_check_mapping() sees it.
 * write_slot: this is the write half of a begin reply; upsert: the mapping
 * came in a cache upsert (device bounds are enforced there).
 */
const char *km_check_mapping(const struct km_vctx *v, const struct fuse_iomap_io *m,
			     int write_slot, int upsert)
{
	uint64_t bs = v->blocksize;

	if (!known_type(m->type))
		return "type must be one of the known mapping types";
	if (m->flags & ~FUSE_IOMAP_F_SERVER_MASK)
		return "flags must be a subset of the server mapping flags (NEW..WANT_IOMAP_END)";

	switch (m->type) {
	case FUSE_IOMAP_TYPE_PURE_OVERWRITE:
		if (!write_slot || upsert)
			return "PURE_OVERWRITE is only allowed in the write slot";
		if (m->flags || m->dev != FUSE_IOMAP_DEV_NULL || m->addr != FUSE_IOMAP_NULL_ADDR)
			return "PURE_OVERWRITE must have flags 0, dev 0 and addr NULL";
		return NULL;
	case FUSE_IOMAP_TYPE_RETRY_CACHE:
		if (upsert)
			return "RETRY_CACHE is not allowed in an upsert";
		if (!v->has_cache)
			return "RETRY_CACHE requires a mapping cache on the inode";
		if (m->flags || m->dev != FUSE_IOMAP_DEV_NULL || m->addr != FUSE_IOMAP_NULL_ADDR)
			return "RETRY_CACHE must have flags 0, dev 0 and addr NULL";
		return NULL;
	case FUSE_IOMAP_TYPE_NOCACHE:
		if (!upsert)
			return "NOCACHE is not allowed in a begin reply";
		if (m->flags || m->dev != FUSE_IOMAP_DEV_NULL || m->addr != FUSE_IOMAP_NULL_ADDR)
			return "NOCACHE must have flags 0, dev 0 and addr NULL";
		return NULL;
	}

	if (m->length == 0)
		return "length must not be zero";
	if (bs && (m->offset % bs || m->length % bs))
		return "offset and length must be multiples of the block size";
	if (m->offset + m->length < m->offset)
		return "offset + length must not overflow";
	if ((int64_t)m->offset < 0 || (int64_t)m->offset >= v->maxbytes)
		return "offset must be below s_maxbytes";

	switch (m->type) {
	case FUSE_IOMAP_TYPE_MAPPED:
	case FUSE_IOMAP_TYPE_UNWRITTEN:
		if (m->dev == FUSE_IOMAP_DEV_NULL)
			return "MAPPED/UNWRITTEN need a device";
		if (m->addr == FUSE_IOMAP_NULL_ADDR)
			return "MAPPED/UNWRITTEN need an address";
		if (m->addr + m->length < m->addr)
			return "addr + length must not overflow";
		if (m->dev >= (uint32_t)v->ndevs || m->dev > KM_MAX_DEVS ||
		    v->devs[m->dev].fd < 0)
			return "device must be a registered iomap backing device";
		if (m->addr + m->length > v->devs[m->dev].size)
			return "addr + length must lie inside the registered device";
		if (v->devs[m->dev].meta) {
			static char why[160];
			uint64_t blk;
			const char *what = km_meta_check(v->devs[m->dev].meta, m->addr, m->length,
							 &blk);

			if (what) {
				snprintf(why, sizeof(why),
					 "a mapping must not point into ext4 metadata (%s, block %llu)",
					 what, (unsigned long long)blk);
				return why;
			}
		}
		break;
	default:	/* HOLE, DELALLOC, INLINE */
		if (m->dev != FUSE_IOMAP_DEV_NULL)
			return "HOLE/DELALLOC/INLINE must have dev 0";
		if (m->addr != FUSE_IOMAP_NULL_ADDR)
			return "HOLE/DELALLOC/INLINE must have addr NULL";
		break;
	}
	return NULL;
}

static int contains(const struct fuse_iomap_io *m, uint64_t pos)
{
	return m->offset <= pos && pos < m->offset + m->length;
}

const char *km_validate_begin(const struct km_vctx *v, const struct fuse_iomap_begin_in *in,
			      const struct fuse_iomap_begin_out *out, int *err)
{
	const struct fuse_iomap_io *r = &out->read, *w = &out->write;
	const struct fuse_iomap_io *used;
	const char *why;

	*err = -EUCLEAN;
	if ((why = km_check_mapping(v, r, 0, 0)))
		return why;
	if ((why = km_check_mapping(v, w, 1, 0)))
		return why;
	if (r->type != FUSE_IOMAP_TYPE_RETRY_CACHE && !contains(r, in->pos))
		return "read mapping must contain pos";
	if (w->type != FUSE_IOMAP_TYPE_PURE_OVERWRITE &&
	    w->type != FUSE_IOMAP_TYPE_RETRY_CACHE && !contains(w, in->pos))
		return "write mapping must contain pos";
	if ((in->opflags & FUSE_IOMAP_OP_NOCACHE_MASK) &&
	    (r->type == FUSE_IOMAP_TYPE_RETRY_CACHE || w->type == FUSE_IOMAP_TYPE_RETRY_CACHE))
		return "RETRY_CACHE is not allowed for ops that bypass the cache";
	if (in->opflags & FUSE_IOMAP_OP_ATOMIC) {
		used = w->type == FUSE_IOMAP_TYPE_PURE_OVERWRITE ? r : w;
		if ((used->type != FUSE_IOMAP_TYPE_MAPPED &&
		     used->type != FUSE_IOMAP_TYPE_UNWRITTEN) ||
		    !(used->flags & FUSE_IOMAP_F_ATOMIC_BIO)) {
			*err = -EIO;
			return "ATOMIC writes need a MAPPED/UNWRITTEN mapping with ATOMIC_BIO";
		}
	}
	if (in->opflags & FUSE_IOMAP_OP_WRITE_MASK) {
		used = w->type == FUSE_IOMAP_TYPE_PURE_OVERWRITE ? r : w;
		if ((used->type == FUSE_IOMAP_TYPE_MAPPED ||
		     used->type == FUSE_IOMAP_TYPE_UNWRITTEN) &&
		    !v->devs[used->dev].writable) {
			*err = -EACCES;
			return "a mapping used for writing needs a device opened read-write";
		}
	}
	*err = 0;
	return NULL;
}

const char *km_validate_config(const struct fuse_iomap_config_out *c, size_t len)
{
	size_t i;

	if (len < offsetof(struct fuse_iomap_config_out, s_id))
		return "reply shorter than the flags field";
	if (c->flags & ~FUSE_IOMAP_CONFIG_ALL)
		return "unknown bits in flags";
	if ((c->flags & FUSE_IOMAP_CONFIG_CACHE_MAXBYTES) &&
	    len < offsetof(struct fuse_iomap_config_out, cache_maxbytes) + 4)
		return "CACHE_MAXBYTES set but the reply is too short to carry it";
	if (len < offsetof(struct fuse_iomap_config_out, cache_maxbytes) &&
	    (c->flags & ~FUSE_IOMAP_CONFIG_CACHE_MAXBYTES))
		return "reply too short for the fields its flags claim";
	if (c->s_uuid_len > 16)
		return "s_uuid_len must be at most 16";
	for (i = 0; i < 3; i++)
		if (c->s_pad[i])
			return "s_pad must be zero";
	if (c->flags & FUSE_IOMAP_CONFIG_TIME) {
		if (c->s_time_gran == 0 || c->s_time_gran > 1000000000u)
			return "s_time_gran must be in 1..10^9";
	}
	if (c->flags & FUSE_IOMAP_CONFIG_MAXBYTES) {
		if (c->s_maxbytes < 0 || c->s_maxbytes > KM_MAX_LFS_FILESIZE)
			return "s_maxbytes must be in 0..MAX_LFS_FILESIZE";
	}
	if (c->flags & FUSE_IOMAP_CONFIG_BLOCKSIZE) {
		uint32_t b = c->s_blocksize;

		if (b < 512 || b > 65536 || (b & (b - 1)))
			return "s_blocksize must be a power of two in 512..65536";
	}
	return NULL;
}

const char *km_validate_upsert(const struct km_vctx *v,
			       const struct fuse_iomap_upsert_mappings_out *u, int *err)
{
	const char *why;

	*err = -EUCLEAN;
	if ((why = km_check_mapping(v, &u->read, 0, 1)))
		return why;
	if ((why = km_check_mapping(v, &u->write, 1, 1)))
		return why;
	*err = 0;
	return NULL;
}

const char *km_validate_inval(const struct km_vctx *v, const struct fuse_range *r)
{
	uint64_t bs = v->blocksize;

	if (r->length == 0)
		return NULL;
	if ((int64_t)r->offset < 0 || (int64_t)r->offset >= v->maxbytes)
		return "invalidation offset must be below s_maxbytes";
	if (r->offset % bs)
		return "invalidation offset must be block aligned";
	if (r->length == FUSE_IOMAP_INVAL_TO_EOF)
		return NULL;
	if (r->length % bs)
		return "invalidation length must be block aligned";
	if (r->offset + r->length < r->offset)
		return "invalidation range must not overflow";
	return NULL;
}
