/*
 * run.c - workloads: scripted, fsx-style random and streaming, all checked
 * against an in-memory model of every file kmodel writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "kmodel.h"
#include "pattern.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE	0x01
#define FALLOC_FL_PUNCH_HOLE	0x02
#define FALLOC_FL_ZERO_RANGE	0x10
#endif

/* ---------------------------------------------------------------- the model */

struct mfile {
	char *path;
	uint8_t *data;
	uint64_t size, cap;
};

static struct mfile *model;
static size_t nmodel;

static struct mfile *mget(const char *path, int create)
{
	size_t i;

	for (i = 0; i < nmodel; i++)
		if (!strcmp(model[i].path, path))
			return &model[i];
	if (!create)
		return NULL;
	model = realloc(model, (nmodel + 1) * sizeof(*model));
	memset(&model[nmodel], 0, sizeof(*model));
	model[nmodel].path = strdup(path);
	return &model[nmodel++];
}

static void mresize(struct mfile *f, uint64_t size)
{
	if (size > f->cap) {
		uint64_t cap = size + size / 2 + 4096;

		f->data = realloc(f->data, cap);
		if (!f->data)
			abort();
		memset(f->data + f->cap, 0, cap - f->cap);
		f->cap = cap;
	}
	if (size < f->size)
		memset(f->data + size, 0, f->size - size);
	f->size = size;
}

static void mremove(const char *path)
{
	size_t i, l = strlen(path);

	for (i = 0; i < nmodel; ) {
		if (!strcmp(model[i].path, path) ||
		    (!strncmp(model[i].path, path, l) && model[i].path[l] == '/')) {
			free(model[i].path);
			free(model[i].data);
			model[i] = model[--nmodel];
		} else {
			i++;
		}
	}
}

static void mrename(const char *from, const char *to)
{
	size_t i, l = strlen(from);

	mremove(to);
	for (i = 0; i < nmodel; i++) {
		char *p = model[i].path, *np;

		if (!strcmp(p, from) || (!strncmp(p, from, l) && p[l] == '/')) {
			if (asprintf(&np, "%s%s", to, p + l) < 0)
				abort();
			free(p);
			model[i].path = np;
		}
	}
}

/* ---------------------------------------------------------------- helpers */

static int num(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': x <<= 10; end++; break;
	case 'm': case 'M': x <<= 20; end++; break;
	case 'g': case 'G': x <<= 30; end++; break;
	}
	if (*end)
		return -1;
	*v = x;
	return 0;
}

static int check_data(const char *path, uint64_t off, const uint8_t *got, size_t len,
		      const char *how)
{
	struct mfile *f = mget(path, 0);
	size_t i, want = 0;

	if (!f)
		return 0;
	if (off < f->size)
		want = f->size - off < len ? f->size - off : len;
	if (want != len) {
		fprintf(stderr, "kmodel: %s %s at %llu: read %zu bytes, model has %zu\n", how,
			path, (unsigned long long)off, len, want);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (got[i] != f->data[off + i]) {
			fprintf(stderr, "kmodel: %s %s: byte %llu is 0x%02x, model says 0x%02x\n",
				how, path, (unsigned long long)(off + i), got[i],
				f->data[off + i]);
			return -1;
		}
	}
	return 0;
}

/* stores through a shared mapping instead of write(2) */
#define WRITE_MMAP	0x100

/* direct: 0 buffered, KM_IO_* flags, or WRITE_MMAP */
static int do_write(const char *path, uint64_t off, uint64_t len, uint64_t seed, int direct)
{
	struct km_inode *ip;
	uint8_t *buf;
	ssize_t n;
	int r;

	if ((r = km_resolve(path, &ip)))
		return r;
	buf = malloc(len ? len : 1);
	pattern(buf, off, len, seed);
	if (direct == WRITE_MMAP)
		n = km_mmap_write(ip, off, len, buf);
	else
		n = km_write(ip, off, len, buf, direct);
	if (n >= 0) {
		struct mfile *f = mget(path, 1);

		if (off + n > f->size)
			mresize(f, off + n);
		if (n)
			memcpy(f->data + off, buf, n);
		if ((uint64_t)n != len) {
			fprintf(stderr, "kmodel: short write %zd of %llu\n", n,
				(unsigned long long)len);
			n = -EIO;
		}
	}
	free(buf);
	return n < 0 ? (int)n : 0;
}

static int do_read(const char *path, uint64_t off, uint64_t len, int direct)
{
	struct km_inode *ip;
	uint8_t *buf;
	ssize_t n;
	int r;

	if ((r = km_resolve(path, &ip)))
		return r;
	buf = malloc(len ? len : 1);
	n = km_read(ip, off, len, buf, direct);
	if (n >= 0 && check_data(path, off, buf, n, direct ? "direct read" : "read"))
		n = -EILSEQ;
	free(buf);
	return n < 0 ? (int)n : 0;
}

/* Read every modelled file (or one) in full and compare. */
static int do_verify(const char *only)
{
	size_t i;
	int r;

	for (i = 0; i < nmodel; i++) {
		struct km_inode *ip;
		struct fuse_attr a;

		if (only && strcmp(only, model[i].path))
			continue;
		if ((r = km_resolve(model[i].path, &ip)))
			return r;
		if ((r = km_getattr(ip, &a)))
			return r;
		if (a.size != model[i].size) {
			fprintf(stderr, "kmodel: verify %s: size %llu, model says %llu\n",
				model[i].path, (unsigned long long)a.size,
				(unsigned long long)model[i].size);
			return -EILSEQ;
		}
		if ((r = do_read(model[i].path, 0, model[i].size + 4096, 0)))
			return r;
	}
	return 0;
}

static int fallocate_mode(const char *s, uint32_t *mode)
{
	if (!strcmp(s, "alloc"))
		*mode = 0;
	else if (!strcmp(s, "keep"))
		*mode = FALLOC_FL_KEEP_SIZE;
	else if (!strcmp(s, "punch"))
		*mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	else if (!strcmp(s, "zero"))
		*mode = FALLOC_FL_ZERO_RANGE;
	else if (!strcmp(s, "zerokeep"))
		*mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	else
		return -1;
	return 0;
}

static int do_fallocate(const char *path, uint32_t mode, uint64_t off, uint64_t len)
{
	struct km_inode *ip;
	struct mfile *f;
	int r;

	if ((r = km_resolve(path, &ip)) || (r = km_fallocate(ip, mode, off, len)))
		return r;
	f = mget(path, 1);
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > f->size)
		mresize(f, off + len);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t end = off + len < f->size ? off + len : f->size;

		if (off < end)
			memset(f->data + off, 0, end - off);
	}
	return 0;
}

static int do_truncate(const char *path, uint64_t size)
{
	struct km_inode *ip;
	int r;

	if ((r = km_resolve(path, &ip)) || (r = km_truncate(ip, size)))
		return r;
	mresize(mget(path, 1), size);
	return 0;
}

/* ---------------------------------------------------------------- script ops */

static int64_t ts_ns(int64_t sec, uint32_t nsec)
{
	return sec * 1000000000LL + nsec;
}

/*
 * timecreate P: create P between two readings of the coarse clock, which
 * the kernel compares timestamps with.  "within" if the birth time and
 * the ctime that the server gave P lie between the two, "ahead" if one
 * is later than the second reading, "behind" if earlier than the first.
 */
static int do_timecreate(struct km_cmd *c, char *res, size_t reslen)
{
	struct timespec t0, t1;
	struct fuse_statx sx;
	struct km_inode *ip;
	int64_t before, after, bt, ct;
	int r;

	if (c->argc < 1)
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME_COARSE, &t0);
	r = km_create(c->argv[0], 0644);
	clock_gettime(CLOCK_REALTIME_COARSE, &t1);
	if (r)
		return r;
	mresize(mget(c->argv[0], 1), 0);
	if ((r = km_resolve(c->argv[0], &ip)) || (r = km_statx(ip, &sx)))
		return r;
	if (!(sx.mask & KM_STATX_BTIME)) {
		snprintf(res, reslen, "no btime");
		return 0;
	}
	before = ts_ns(t0.tv_sec, t0.tv_nsec);
	after = ts_ns(t1.tv_sec, t1.tv_nsec);
	bt = ts_ns(sx.btime.tv_sec, sx.btime.tv_nsec);
	ct = ts_ns(sx.ctime.tv_sec, sx.ctime.tv_nsec);
	if (bt > after || ct > after)
		snprintf(res, reslen, "ahead");
	else if (bt < before || ct < before)
		snprintf(res, reslen, "behind");
	else
		snprintf(res, reslen, "within");
	return 0;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

/* Execute one command; value results go to res.  Returns 0 or -errno. */
static int execute(struct km_cmd *c, char *res, size_t reslen)
{
	const char *op = c->op;
	uint64_t a = 0, b = 0, s = 1;
	struct km_inode *ip;
	int r, direct = 0, i;

	res[0] = 0;
	for (i = 0; i < c->argc; i++) {
		if (!strcmp(c->argv[i], "direct"))
			direct |= KM_IO_DIRECT;
		else if (!strcmp(c->argv[i], "atomic"))
			direct |= KM_IO_ATOMIC;
	}
#define NEED(n) do { if (c->argc < (n)) return -EINVAL; } while (0)
	if (!strcmp(op, "mkdir")) {
		NEED(1);
		if (c->argc > 1 && num(c->argv[1], &a))
			return -EINVAL;
		return km_mkdir(c->argv[0], c->argc > 1 ? a : 0755);
	}
	if (!strcmp(op, "create")) {
		NEED(1);
		if (c->argc > 1 && num(c->argv[1], &a))
			return -EINVAL;
		r = km_create(c->argv[0], c->argc > 1 ? a : 0644);
		if (!r)
			mresize(mget(c->argv[0], 1), 0);
		return r;
	}
	if (!strcmp(op, "open")) {
		int trunc = c->argc > 1 && !strcmp(c->argv[1], "trunc");

		NEED(1);
		if ((r = km_resolve(c->argv[0], &ip)))
			return r;
		if (trunc)
			km_close(ip);
		r = km_open(ip, O_RDWR | (trunc ? O_TRUNC : 0));
		if (!r && trunc)
			mresize(mget(c->argv[0], 1), 0);
		return r;
	}
	if (!strcmp(op, "close")) {
		NEED(1);
		if ((r = km_resolve(c->argv[0], &ip)))
			return r;
		return km_close(ip);
	}
	if (!strcmp(op, "write")) {
		NEED(3);
		if (num(c->argv[1], &a) || num(c->argv[2], &b) ||
		    (c->argc > 3 && strcmp(c->argv[3], "direct") &&
		     strcmp(c->argv[3], "atomic") && num(c->argv[3], &s)))
			return -EINVAL;
		return do_write(c->argv[0], a, b, s, direct);
	}
	if (!strcmp(op, "mwrite")) {
		NEED(3);
		if (num(c->argv[1], &a) || num(c->argv[2], &b) ||
		    (c->argc > 3 && num(c->argv[3], &s)))
			return -EINVAL;
		return do_write(c->argv[0], a, b, s, WRITE_MMAP);
	}
	if (!strcmp(op, "read")) {
		NEED(3);
		if (num(c->argv[1], &a) || num(c->argv[2], &b))
			return -EINVAL;
		return do_read(c->argv[0], a, b, direct);
	}
	if (!strcmp(op, "verify"))
		return do_verify(c->argc ? c->argv[0] : NULL);
	if (!strcmp(op, "truncate")) {
		NEED(2);
		if (num(c->argv[1], &a))
			return -EINVAL;
		return do_truncate(c->argv[0], a);
	}
	if (!strcmp(op, "fallocate")) {
		uint32_t mode;

		NEED(4);
		if (fallocate_mode(c->argv[1], &mode) || num(c->argv[2], &a) ||
		    num(c->argv[3], &b))
			return -EINVAL;
		return do_fallocate(c->argv[0], mode, a, b);
	}
	if (!strcmp(op, "fsync") || !strcmp(op, "fdatasync")) {
		NEED(1);
		if ((r = km_resolve(c->argv[0], &ip)))
			return r;
		return km_fsync(ip, op[1] == 'd');
	}
	if (!strcmp(op, "syncfs"))
		return km_syncfs();
	if (!strcmp(op, "dropcaches"))
		return km_dropcaches();
	if (!strcmp(op, "stat") || !strcmp(op, "lookup")) {
		struct fuse_attr at;

		NEED(1);
		if (op[0] == 'l')
			r = km_lookup_attr(c->argv[0], &at);
		else if (!(r = km_resolve(c->argv[0], &ip)))
			r = km_getattr(ip, &at);
		if (r)
			return r;
		if (op[0] == 'l' && (r = km_resolve(c->argv[0], &ip)))
			return r;
		snprintf(res, reslen, "size=%llu type=%s iomap=%d nlink=%u mode=0%o "
			 "uid=%u gid=%u sync=%d immutable=%d append=%d attr_valid=%llu",
			 (unsigned long long)at.size,
			 S_ISDIR(at.mode) ? "dir" : S_ISREG(at.mode) ? "file" : "other",
			 ip->iomap, at.nlink, at.mode & 07777, at.uid, at.gid,
			 !!(at.flags & FUSE_ATTR_SYNC), !!(at.flags & FUSE_ATTR_IMMUTABLE),
			 !!(at.flags & FUSE_ATTR_APPEND),
			 (unsigned long long)ip->attr_valid);
		if (op[0] == 'l')
			snprintf(res + strlen(res), reslen - strlen(res),
				 " entry_valid=%llu",
				 (unsigned long long)ip->entry_valid);
		return 0;
	}
	if (!strcmp(op, "as")) {
		NEED(2);
		if (num(c->argv[0], &a) || num(c->argv[1], &b))
			return -EINVAL;
		K->uid = a;
		K->gid = b;
		return 0;
	}
	if (!strcmp(op, "chmod") || !strcmp(op, "chown") || !strcmp(op, "utimes")) {
		struct fuse_setattr_in in = { 0 };

		NEED(strcmp(op, "chmod") ? 3 : 2);
		if (num(c->argv[1], &a) || (c->argc > 2 && num(c->argv[2], &b)))
			return -EINVAL;
		if (!strcmp(op, "chmod")) {
			in.valid = FATTR_MODE;
			in.mode = a;
		} else if (!strcmp(op, "chown")) {
			in.valid = FATTR_UID | FATTR_GID;
			in.uid = a;
			in.gid = b;
		} else {
			/* utimes(2) with both times given: seconds */
			in.valid = FATTR_ATIME | FATTR_MTIME;
			in.atime = a;
			in.mtime = b;
		}
		if ((r = km_resolve(c->argv[0], &ip)))
			return r;
		return km_setattr(ip, &in);
	}
	if (!strcmp(op, "setxattr")) {
		uint8_t val[1024];
		size_t n, l;

		NEED(3);
		l = strlen(c->argv[2]);
		if (l % 2 || l / 2 > sizeof(val))
			return -EINVAL;
		for (n = 0; n < l / 2; n++) {
			unsigned int x;

			if (sscanf(c->argv[2] + 2 * n, "%2x", &x) != 1)
				return -EINVAL;
			val[n] = x;
		}
		if ((r = km_resolve(c->argv[0], &ip)))
			return r;
		return km_setxattr(ip, c->argv[1], val, l / 2);
	}
	if (!strcmp(op, "getxattr")) {
		size_t n;

		NEED(2);
		if ((r = km_resolve(c->argv[0], &ip)) || (r = km_getxattr(ip, c->argv[1], &n)))
			return r;
		snprintf(res, reslen, "size=%zu", n);
		return 0;
	}
	if (!strcmp(op, "timecreate"))
		return do_timecreate(c, res, reslen);
	if (!strcmp(op, "sh")) {
		char cmd[1024];
		size_t l = 0;

		NEED(1);
		for (i = 0; i < c->argc && l < sizeof(cmd); i++)
			l += snprintf(cmd + l, sizeof(cmd) - l, "%s%s", i ? " " : "",
				      c->argv[i]);
		if (l >= sizeof(cmd))
			return -EINVAL;
		fflush(NULL);
		r = system(cmd);
		return r == 0 ? 0 : -EIO;
	}
	if (!strcmp(op, "statx")) {
		struct fuse_statx sx;
		char atomic[40];

		NEED(1);
		if ((r = km_resolve(c->argv[0], &ip)) || (r = km_statx(ip, &sx)))
			return r;
		if (sx.mask & KM_STATX_WRITE_ATOMIC)
			snprintf(atomic, sizeof(atomic), "%u/%u/%u", sx.atomic_write_unit_min,
				 sx.atomic_write_unit_max, sx.atomic_write_segments_max);
		else
			strcpy(atomic, "none");
		snprintf(res, reslen,
			 "size=%llu blocks=%llu nlink=%u btime=%d dioalign=%u/%u atomic=%s",
			 (unsigned long long)sx.size, (unsigned long long)sx.blocks, sx.nlink,
			 !!(sx.mask & KM_STATX_BTIME), sx.dio_mem_align, sx.dio_offset_align,
			 atomic);
		return 0;
	}
	if (!strcmp(op, "statfs")) {
		struct fuse_kstatfs st;

		if ((r = km_statfs(&st)))
			return r;
		snprintf(res, reslen, "bsize=%u blocks=%llu namelen=%u", st.bsize,
			 (unsigned long long)st.blocks, st.namelen);
		return 0;
	}
	if (!strcmp(op, "unlink") || !strcmp(op, "rmdir")) {
		NEED(1);
		r = km_unlink(c->argv[0], op[0] == 'r');
		if (!r)
			mremove(c->argv[0]);
		return r;
	}
	if (!strcmp(op, "link")) {
		NEED(2);
		return km_link(c->argv[0], c->argv[1]);
	}
	if (!strcmp(op, "rename")) {
		NEED(2);
		r = km_rename(c->argv[0], c->argv[1]);
		if (!r)
			mrename(c->argv[0], c->argv[1]);
		return r;
	}
	if (!strcmp(op, "ls")) {
		char **names;
		int n;
		size_t l = 0;

		NEED(1);
		if ((r = km_readdir(c->argv[0], &names, &n)))
			return r;
		if (n)
			qsort(names, n, sizeof(*names), cmpstr);
		for (i = 0; i < n; i++) {
			l += snprintf(res + l, reslen > l ? reslen - l : 0, "%s%s", i ? " " : "",
				      names[i]);
			free(names[i]);
		}
		free(names);
		return 0;
	}
	if (!strcmp(op, "fiemap")) {
		NEED(1);
		if ((r = km_resolve(c->argv[0], &ip)))
			return r;
		return km_fiemap(ip, res, reslen);
	}
	if (!strcmp(op, "seek_data") || !strcmp(op, "seek_hole")) {
		NEED(2);
		if (num(c->argv[1], &a))
			return -EINVAL;
		if ((r = km_resolve(c->argv[0], &ip)) ||
		    (r = km_seek(ip, a, op[5] == 'd' ? 3 : 4, &b)))
			return r;
		snprintf(res, reslen, "%llu", (unsigned long long)b);
		return 0;
	}
	if (!strcmp(op, "freeze"))
		return km_freeze();
	if (!strcmp(op, "thaw"))
		return km_thaw();
	if (!strcmp(op, "shutdown"))
		return km_shutdown();
	if (!strcmp(op, "crash"))
		return km_crash();
	return -ENOSYS;
#undef NEED
}

static const char *subset_ops[] = { "stat", "lookup", "statx", "statfs", NULL };

static int expect_ok(const struct km_cmd *c, int r, const char *res, char *why, size_t len)
{
	const char *e = c->expect;
	int want = 0, i;

	if (!e || !strcmp(e, "ok")) {
		if (r == 0)
			return 1;
		snprintf(why, len, "got %s, expected ok", km_errno_name(r));
		return 0;
	}
	if ((want = km_errno_from_name(e))) {
		if (r == -want)
			return 1;
		snprintf(why, len, "got %s, expected %s", km_errno_name(r), e);
		return 0;
	}
	if (r) {
		snprintf(why, len, "got %s, expected \"%s\"", km_errno_name(r), e);
		return 0;
	}
	for (i = 0; subset_ops[i]; i++)
		if (!strcmp(c->op, subset_ops[i]))
			break;
	if (subset_ops[i]) {
		char buf[512], *tok, *save, *p;

		snprintf(buf, sizeof(buf), "%s", e);
		for (p = buf; (tok = strtok_r(p, " ", &save)); p = NULL) {
			const char *hit = strstr(res, tok);
			size_t tl = strlen(tok);

			if (!hit || (hit != res && hit[-1] != ' ') ||
			    (hit[tl] && hit[tl] != ' ')) {
				snprintf(why, len, "got \"%s\", expected \"%s\"", res, e);
				return 0;
			}
		}
		return 1;
	}
	if (strcmp(res, e)) {
		snprintf(why, len, "got \"%s\", expected \"%s\"", res, e);
		return 0;
	}
	return 1;
}

int km_run_script(FILE *f, const char *name)
{
	char line[1024], err[256], res[4096], why[4600];
	struct km_cmd c;
	int lineno = 0, r, n = 0, bad = 0;

	while (fgets(line, sizeof(line), f)) {
		lineno++;
		r = km_parse_line(line, lineno, &c, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "kmodel: %s: %s\n", name, err);
			return -1;
		}
		if (r == 0)
			continue;
		n++;
		if (K->trace_maps) {
			int i;

			fprintf(stderr, "kmodel: trace: line %d: %s", lineno, c.op);
			for (i = 0; i < c.argc; i++)
				fprintf(stderr, " %s", c.argv[i]);
			fputc('\n', stderr);
		}
		r = execute(&c, res, sizeof(res));
		if (r == -ENOSYS && !km_errno_from_name(c.expect ? c.expect : "") &&
		    strcmp(c.op, "freeze") && strcmp(c.op, "thaw")) {
			/* an unknown operation is a script error, not a result */
			int known = 0;
			static const char *ops[] = { "mkdir", "create", "open", "close", "write",
				"read", "verify", "truncate", "fallocate", "fsync", "fdatasync", "mwrite",
				"syncfs", "dropcaches", "stat", "statx", "statfs", "unlink", "rmdir",
				"rename", "link", "ls", "fiemap", "seek_data", "seek_hole", "shutdown", "crash",
				"lookup", "as", "chmod", "chown", "utimes", "setxattr", "getxattr",
				"timecreate", "sh", NULL };

			for (int i = 0; ops[i]; i++)
				known |= !strcmp(ops[i], c.op);
			if (!known) {
				fprintf(stderr, "kmodel: %s:%d: unknown operation \"%s\"\n", name,
					lineno, c.op);
				return -1;
			}
		}
		if (K->violations) {
			fprintf(stderr, "kmodel: %s:%d: %s: stopped by a protocol violation\n",
				name, lineno, c.op);
			return -1;
		}
		if (K->crashed && strcmp(c.op, "crash")) {
			/* --crash-after: this operation was in flight */
			fprintf(stderr, "kmodel: %s:%d: %s: the machine went down after %llu requests\n",
				name, lineno, c.op, (unsigned long long)K->crash_after);
			break;
		}
		if (!expect_ok(&c, r, res, why, sizeof(why))) {
			fprintf(stderr, "kmodel: %s:%d: %s: %s\n", name, lineno, c.op, why);
			bad++;
			if (K->dead)
				break;
		} else if (K->verbose) {
			fprintf(stderr, "kmodel: %s:%d: %s ok%s%s\n", name, lineno, c.op,
				res[0] ? " " : "", res);
		}
	}
	fprintf(stderr, "kmodel: script %s: %d operations, %d failed\n", name, n, bad);
	return bad ? -1 : 0;
}

/* ---------------------------------------------------------------- random mode */

static uint64_t rstate;

static uint64_t rnd(void)
{
	rstate += 0x9e3779b97f4a7c15ULL;
	return mix(rstate);
}

static uint64_t rrange(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* An existing file joins the model with what the server holds now. */
static int adopt(const char *path)
{
	struct km_inode *ip;
	struct fuse_attr a;
	struct mfile *f;
	ssize_t n;
	int r;

	if ((r = km_resolve(path, &ip)) || (r = km_getattr(ip, &a)))
		return r;
	f = mget(path, 1);
	mresize(f, a.size);
	n = a.size ? km_read(ip, 0, a.size, f->data, 0) : 0;
	if (n < 0)
		return n;
	if ((uint64_t)n != a.size)
		return -EIO;
	return 0;
}

/*
 * paths: comma-separated files that exist already (servers with a fixed
 * set of files); NULL: create /fsx0../fsxN-1.  Namespace operations
 * (recreate, rename over) only run on files kmodel created.
 */
int km_run_random(uint64_t seed, long nops, int nfiles, uint64_t maxsize, const char *paths)
{
	static char list[4096], created[64][16];
	char path[sizeof(list)], *names[64], *tok, *save;
	long i;
	int r = 0, f;
	uint32_t bs = K->blocksize;

	rstate = seed;
	if (paths) {
		snprintf(list, sizeof(list), "%s", paths);
		nfiles = 0;
		for (tok = strtok_r(list, ",", &save); tok && nfiles < 64;
		     tok = strtok_r(NULL, ",", &save)) {
			names[nfiles++] = tok;
			r = adopt(tok);
			if (r) {
				fprintf(stderr, "kmodel: random: %s: %s\n", tok, km_errno_name(r));
				return -1;
			}
		}
	} else {
		for (f = 0; f < nfiles && f < 64; f++) {
			snprintf(created[f], sizeof(created[f]), "/fsx%d", f);
			names[f] = created[f];
			snprintf(path, sizeof(path), "%s", names[f]);
			r = km_create(path, 0644);
			if (r) {
				fprintf(stderr, "kmodel: random: create %s: %s\n", path,
					km_errno_name(r));
				return -1;
			}
			mresize(mget(path, 1), 0);
		}
		nfiles = f;
	}
	for (i = 0; i < nops; i++) {
		uint64_t what = rrange(100), off = 0, len = 0;
		const char *name;
		struct mfile *m;

		f = rrange(nfiles);
		snprintf(path, sizeof(path), "%s", names[f]);
		m = mget(path, 1);
		if (what < 5) {
			name = "mmap write";
			off = rrange(m->size);
			len = m->size > off ? 1 + rrange(m->size - off < 16384 ? m->size - off : 16384) : 0;
			r = len ? do_write(path, off, len, rnd(), WRITE_MMAP) : 0;
		} else if (what < 30) {
			name = "write";
			off = rrange(maxsize);
			len = 1 + rrange(maxsize - off < 65536 ? maxsize - off : 65536);
			r = do_write(path, off, len, rnd(), 0);
		} else if (what < 42) {
			name = "direct write";
			off = rrange(maxsize / 512) * 512;
			len = 512 * (1 + rrange((maxsize - off) / 512 < 64 ? (maxsize - off) / 512 : 64));
			if (off + len > maxsize)
				len = maxsize - off;
			r = len ? do_write(path, off, len, rnd(), 1) : 0;
		} else if (what < 55) {
			name = "read";
			off = rrange(m->size + 4096);
			len = 1 + rrange(65536);
			r = do_read(path, off, len, 0);
		} else if (what < 62) {
			name = "direct read";
			off = rrange((m->size + 4096) / 512) * 512;
			len = 512 * (1 + rrange(64));
			r = do_read(path, off, len, 1);
		} else if (what < 70) {
			name = "truncate";
			off = rrange(maxsize);
			if (rrange(2))
				off = off / bs * bs;
			r = do_truncate(path, off);
		} else if (what < 80) {
			static const char *modes[] = { "alloc", "keep", "punch", "zero", "zerokeep" };
			uint32_t mode;
			const char *mn = modes[rrange(5)];

			name = "fallocate";
			off = rrange(maxsize);
			len = 1 + rrange(maxsize - off < 65536 ? maxsize - off : 65536);
			fallocate_mode(mn, &mode);
			r = do_fallocate(path, mode, off, len);
			if (r == -EOPNOTSUPP || r == -ENOSYS)
				r = 0;
		} else if (what < 86) {
			struct km_inode *ip;

			name = "fsync";
			r = km_resolve(path, &ip);
			if (!r)
				r = km_fsync(ip, rrange(2));
		} else if (what < 90) {
			name = "dropcaches";
			r = km_dropcaches();
		} else if (what < 93) {
			name = "syncfs";
			r = km_syncfs();
		} else if (what < 95) {
			struct km_inode *ip;

			name = "close";
			r = km_resolve(path, &ip);
			if (!r)
				r = km_close(ip);
			if (!r && rrange(4) == 0) {
				name = "close, open O_TRUNC";
				r = km_open(ip, O_RDWR | O_TRUNC);
				if (!r)
					mresize(m, 0);
			}
		} else if (what < 96 && !paths) {
			name = "recreate";
			r = km_unlink(path, 0);
			if (!r) {
				mremove(path);
				r = km_create(path, 0644);
			}
			if (!r)
				mresize(mget(path, 1), 0);
		} else if (what < 97 && !paths && nfiles > 1) {
			/* rename another file over this one, then recreate the other */
			const char *other = names[(f + 1) % nfiles];

			name = "rename over";
			r = km_rename(other, path);
			if (!r) {
				mrename(other, path);
				r = km_create(other, 0644);
			}
			if (!r)
				mresize(mget(other, 1), 0);
		} else {
			name = "verify";
			r = do_verify(NULL);
		}
		if (K->verbose > 1)
			fprintf(stderr, "kmodel: random op %ld: %s %s %llu %llu -> %s\n", i, name,
				path, (unsigned long long)off, (unsigned long long)len,
				km_errno_name(r));
		if (!r && !K->violations)
			r = do_verify(path);
		if (r || K->violations) {
			fprintf(stderr, "kmodel: random seed %llu: op %ld (%s on %s) failed: %s\n",
				(unsigned long long)seed, i, name, path,
				r == -EILSEQ ? "data mismatch" : km_errno_name(r));
			return -1;
		}
	}
	r = km_dropcaches();
	if (!r)
		r = do_verify(NULL);
	if (r) {
		fprintf(stderr, "kmodel: random: final verify failed: %s\n", km_errno_name(r));
		return -1;
	}
	fprintf(stderr, "kmodel: random seed %llu: %ld operations on %d files, all contents verified\n",
		(unsigned long long)seed, nops, nfiles);
	return 0;
}

/* ---------------------------------------------------------------- streaming */

int km_run_stream(const char *path, uint64_t size, uint64_t bs, int direct)
{
	struct km_inode *ip;
	uint8_t *buf = malloc(bs), *want = malloc(bs);
	uint64_t off, t0, t1;
	ssize_t n;
	int r;

	if (!buf || !want)
		return -1;
	/* a stream left by an earlier run on the same image goes first */
	r = km_unlink(path, 0);
	if (r && r != -ENOENT) {
		fprintf(stderr, "kmodel: stream: unlink %s: %s\n", path, km_errno_name(r));
		return -1;
	}
	r = km_create(path, 0644);
	if (!r)
		r = km_resolve(path, &ip);
	if (r) {
		fprintf(stderr, "kmodel: stream: create %s: %s\n", path, km_errno_name(r));
		return -1;
	}
	t0 = km_now_ns();
	for (off = 0; off < size; off += bs) {
		pattern(buf, off, bs, 7);
		n = km_write(ip, off, bs, buf, direct);
		if (n != (ssize_t)bs) {
			fprintf(stderr, "kmodel: stream: write at %llu: %s\n",
				(unsigned long long)off, km_errno_name(n < 0 ? n : -EIO));
			return -1;
		}
	}
	r = km_fsync(ip, 0);
	t1 = km_now_ns();
	if (r) {
		fprintf(stderr, "kmodel: stream: fsync: %s\n", km_errno_name(r));
		return -1;
	}
	fprintf(stderr, "kmodel: stream: wrote %llu MiB in %llu KiB %s writes: %.1f MiB/s\n",
		(unsigned long long)(size >> 20), (unsigned long long)(bs >> 10),
		direct ? "direct" : "buffered", (size / 1048576.0) / ((t1 - t0) / 1e9));
	km_dropcaches();
	t0 = km_now_ns();
	for (off = 0; off < size; off += bs) {
		n = km_read(ip, off, bs, buf, direct);
		pattern(want, off, bs, 7);
		if (n != (ssize_t)bs || memcmp(buf, want, bs)) {
			fprintf(stderr, "kmodel: stream: read at %llu: %s\n",
				(unsigned long long)off, n < 0 ? km_errno_name(n) : "data mismatch");
			return -1;
		}
	}
	t1 = km_now_ns();
	fprintf(stderr, "kmodel: stream: read %llu MiB back and verified: %.1f MiB/s\n",
		(unsigned long long)(size >> 20), (size / 1048576.0) / ((t1 - t0) / 1e9));
	/* keep the model small: the file's contents are known by formula */
	free(buf);
	free(want);
	return 0;
}

/* Which of the n mappings starting at starts[] holds off? */
static size_t mapping_of(const uint64_t *starts, size_t n, uint64_t off)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (starts[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * --randio SIZE:COUNT: write SIZE bytes of a new file with 1 MiB writes,
 * fsync and drop the caches; then COUNT random 4 KiB buffered reads, and
 * (caches dropped again) COUNT random 4 KiB buffered overwrites and an
 * fsync.  Each phase prints its rate and the mapping requests it needed,
 * per operation and against the number of the file's mappings (extents)
 * it touched: with a mapping cache, a server that pushes its mappings
 * needs about one request per extent touched, without one per I/O.
 */
int km_run_randio(const char *path, uint64_t size, long count)
{
	const uint64_t bs = 4096, mbs = 1 << 20;
	static const char *const phase[] = { "read", "write" };
	uint64_t *starts, rng = 88172645463325252ULL, off, t0, t1, up0, hit0;
	uint8_t *buf = malloc(mbs), *want = malloc(bs), *touched;
	struct km_inode *ip;
	size_t nmaps = 0, ntouched, i;
	long k;
	int r, p;
	ssize_t n;

	starts = calloc(65536, sizeof(*starts));
	if (!buf || !want || !starts || size < mbs || size % mbs || count < 1)
		return -1;
	r = km_unlink(path, 0);
	if (r && r != -ENOENT)
		return -1;
	r = km_create(path, 0644);
	if (!r)
		r = km_resolve(path, &ip);
	for (off = 0; !r && off < size; off += mbs) {
		pattern(buf, off, mbs, 7);
		n = km_write(ip, off, mbs, buf, 0);
		if (n != (ssize_t)mbs)
			r = n < 0 ? (int)n : -EIO;
	}
	if (!r)
		r = km_fsync(ip, 0);
	if (!r)
		r = km_mappings(ip, starts, 65536, &nmaps);
	if (r) {
		fprintf(stderr, "kmodel: randio: setting up %s: %s\n", path, km_errno_name(r));
		return -1;
	}
	touched = calloc(nmaps ? nmaps : 1, 1);
	if (!touched)
		return -1;
	for (p = 0; p < 2; p++) {
		km_dropcaches();
		memset(touched, 0, nmaps ? nmaps : 1);
		ntouched = 0;
		up0 = K->map_upcalls;
		hit0 = K->map_cache_hits;
		t0 = km_now_ns();
		for (k = 0; k < count; k++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			off = rng % (size / bs) * bs;
			i = mapping_of(starts, nmaps, off);
			if (nmaps && !touched[i]) {
				touched[i] = 1;
				ntouched++;
			}
			pattern(want, off, bs, 7);
			if (p == 0) {
				n = km_read(ip, off, bs, buf, 0);
				if (n == (ssize_t)bs && memcmp(buf, want, bs))
					n = -EILSEQ;
			} else {
				n = km_write(ip, off, bs, want, 0);
			}
			if (n != (ssize_t)bs) {
				fprintf(stderr, "kmodel: randio: %s at %llu: %s\n", phase[p],
					(unsigned long long)off, km_errno_name(n < 0 ? n : -EIO));
				return -1;
			}
		}
		if (p == 1 && (r = km_fsync(ip, 0))) {
			fprintf(stderr, "kmodel: randio: fsync: %s\n", km_errno_name(r));
			return -1;
		}
		t1 = km_now_ns();
		fprintf(stderr, "kmodel: randio: %s %ld x 4 KiB%s in %.3f s: %.0f IOPS; "
			"%llu mapping requests, %.4f per I/O, %llu from the cache; "
			"%zu of %zu mappings touched\n", phase[p], count,
			p ? " +fsync" : "", (t1 - t0) / 1e9, count / ((t1 - t0) / 1e9),
			(unsigned long long)(K->map_upcalls - up0),
			(double)(K->map_upcalls - up0) / count,
			(unsigned long long)(K->map_cache_hits - hit0), ntouched, nmaps);
	}
	free(touched);
	free(starts);
	free(buf);
	free(want);
	return 0;
}

/* Write every modelled file's expected contents under dir, for cross-checks. */
int km_export_model(const char *dir)
{
	size_t i;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		perror(dir);
		return -1;
	}
	for (i = 0; i < nmodel; i++) {
		char *p, *s;
		int fd;

		if (asprintf(&p, "%s%s", dir, model[i].path) < 0)
			return -1;
		for (s = p + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, model[i].data, model[i].size) != (ssize_t)model[i].size) {
			perror(p);
			return -1;
		}
		close(fd);
		free(p);
	}
	return 0;
}

/* ---------------------------------------------------------------- tree walk */

/*
 * Walk the whole tree the way find(1) and cat(1) would: READDIR every
 * directory, LOOKUP and GETATTR every name, read every regular file.  With
 * writes, also overwrite the first block of a few existing files and create
 * one new file, reading each back.  Errors from the server are results, not
 * failures: they are counted by errno (a corrupt filesystem is allowed to
 * say EIO or EUCLEAN); only a protocol violation, a timeout or a dead server
 * fails the walk.  Limits keep a corrupt tree from making the walk itself
 * endless.
 */
#define WALK_MAX_ENTRIES	20000
#define WALK_MAX_DEPTH		64
#define WALK_MAX_READ		(4ULL << 20)
#define WALK_WRITES		3

struct walk {
	long dirs, files, other, entries, badnames, skipped, loops;
	uint64_t seen[WALK_MAX_ENTRIES + 1];	/* inode numbers of directories */
	uint64_t bytes_read;
	long writes, verified;
	long errors[512];
	int write;
};

static void walk_error(struct walk *w, const char *what, const char *path, int r)
{
	if (r < 0 && r > -512)
		w->errors[-r]++;
	if (K->verbose)
		fprintf(stderr, "kmodel: walk: %s %s: %s\n", what, path, km_errno_name(r));
}

/* Overwrite the first block of a file, read it back, compare. */
static void walk_write(struct walk *w, struct km_inode *ip, const char *path, uint64_t size)
{
	uint8_t *buf, *back;
	size_t len = size < 4096 ? size : 4096;
	ssize_t n;
	int r;

	if (!len)
		return;
	buf = malloc(len);
	back = malloc(len);
	pattern(buf, 0, len, 0x5eed);
	w->writes++;
	n = km_write(ip, 0, len, buf, 0);
	if (n < 0) {
		walk_error(w, "write", path, n);
		goto out;
	}
	if ((r = km_fsync(ip, 0))) {
		walk_error(w, "fsync", path, r);
		goto out;
	}
	n = km_read(ip, 0, len, back, 0);
	if (n < 0) {
		walk_error(w, "read back", path, n);
	} else if ((size_t)n != len || memcmp(buf, back, len)) {
		fprintf(stderr, "kmodel: walk: %s: %zd bytes read back differ from the %zu written\n",
			path, n, len);
		walk_error(w, "read back", path, -EILSEQ);
	} else {
		w->verified++;
	}
out:
	free(buf);
	free(back);
}

static void walk_file(struct walk *w, struct km_inode *ip, const char *path, uint64_t size)
{
	uint64_t off, end = size < WALK_MAX_READ ? size : WALK_MAX_READ;
	size_t chunk = 128 << 10;
	uint8_t *buf;
	ssize_t n;
	int r;

	if (size > end)
		w->skipped++;
	/* a read-only mount opens for reading; km_read reuses the open file */
	if ((r = km_open(ip, w->write ? O_RDWR : O_RDONLY))) {
		walk_error(w, "open", path, r);
		return;
	}
	buf = malloc(chunk);
	for (off = 0; off < end; off += n) {
		n = km_read(ip, off, end - off < chunk ? end - off : chunk, buf, 0);
		if (n < 0) {
			walk_error(w, "read", path, n);
			break;
		}
		if (n == 0)
			break;
		w->bytes_read += n;
	}
	free(buf);
	if (w->write && w->writes < WALK_WRITES && !K->dead)
		walk_write(w, ip, path, size);
	if ((r = km_close(ip)))
		walk_error(w, "close", path, r);
}

/*
 * A directory reached a second time (a directory hard link in a corrupt
 * image) is not walked again: the kernel's dcache refuses such an alias
 * with ELOOP, find(1) reports a loop.
 */
static int walk_seen(struct walk *w, uint64_t ino)
{
	long i;

	for (i = 0; i < w->dirs; i++)
		if (w->seen[i] == ino)
			return 1;
	return 0;
}

static void walk_dir(struct walk *w, const char *path, uint64_t ino, int depth)
{
	char **names = NULL;
	int n = 0, i, r;

	w->seen[w->dirs++] = ino;
	if ((r = km_readdir(path, &names, &n)))
		walk_error(w, "readdir", path, r);
	for (i = 0; i < n; i++) {
		char *child = NULL;
		struct km_inode *ip;
		struct fuse_attr a;

		if (K->dead || K->violations || w->entries >= WALK_MAX_ENTRIES) {
			w->skipped += w->entries >= WALK_MAX_ENTRIES;
			goto next;
		}
		w->entries++;
		/* the kernel refuses such names in a READDIR reply with EIO */
		if (!names[i][0] || strchr(names[i], '/')) {
			w->badnames++;
			goto next;
		}
		if (asprintf(&child, "%s%s%s", path, path[1] ? "/" : "", names[i]) < 0)
			goto next;
		if ((r = km_resolve(child, &ip))) {
			walk_error(w, "lookup", child, r);
			goto next;
		}
		if ((r = km_getattr(ip, &a))) {
			walk_error(w, "getattr", child, r);
			goto next;
		}
		if (S_ISDIR(a.mode)) {
			if (walk_seen(w, a.ino))
				w->loops++;
			else if (depth < WALK_MAX_DEPTH)
				walk_dir(w, child, a.ino, depth + 1);
			else
				w->skipped++;
		} else if (S_ISREG(a.mode)) {
			w->files++;
			walk_file(w, ip, child, a.size);
		} else {
			w->other++;
		}
next:
		free(child);
		free(names[i]);
	}
	free(names);
}

int km_run_walk(int write)
{
	static struct walk w;
	char line[4096];
	size_t l;
	int i, r;

	struct km_inode *root;
	struct fuse_attr a = { 0 };

	memset(&w, 0, sizeof(w));
	w.write = write;
	if ((r = km_resolve("/", &root)) || (r = km_getattr(root, &a)))
		walk_error(&w, "getattr", "/", r);
	walk_dir(&w, "/", a.ino, 0);
	if (write && !K->dead && !K->violations) {
		struct km_inode *ip;

		if ((r = km_create("/kmodel.walk", 0644)) || (r = km_resolve("/kmodel.walk", &ip))) {
			walk_error(&w, "create", "/kmodel.walk", r);
		} else {
			walk_write(&w, ip, "/kmodel.walk", 4096);
			if ((r = km_close(ip)))
				walk_error(&w, "close", "/kmodel.walk", r);
		}
	}
	l = snprintf(line, sizeof(line), "errors");
	for (i = 1; i < 512; i++)
		if (w.errors[i])
			l += snprintf(line + l, l < sizeof(line) ? sizeof(line) - l : 0,
				      " %s=%ld", km_errno_name(i), w.errors[i]);
	if (l == strlen("errors"))
		snprintf(line, sizeof(line), "errors none");
	fprintf(stderr, "kmodel: walk: %ld directories, %ld files, %ld other, %llu bytes read, "
		"%ld written (%ld verified), %ld bad names, %ld loops, %ld skipped; %s\n",
		w.dirs, w.files, w.other, (unsigned long long)w.bytes_read, w.writes,
		w.verified, w.badnames, w.loops, w.skipped, line);
	return K->dead || K->violations || w.errors[EILSEQ] ? -1 : 0;
}
