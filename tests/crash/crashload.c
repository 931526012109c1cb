/*
 * crashload - a seeded workload for crash tests, and its checker.
 *
 *   crashload run SEED NOPS DIR           the workload on a mounted DIR; stops
 *                                         at the first failing operation and
 *                                         prints "stopped at op K" if the
 *                                         server is gone then, "failed at
 *                                         op K" if not, or "completed K"
 *   crashload script SEED NOPS            the same operations as a kmodel
 *                                         script: line K is operation K
 *   crashload verify fuse|km|km+syncfs SEED NOPS K DIR
 *                                         after a crash during operation K
 *                                         (NOPS + 1: after all of them):
 *                                         every byte that was fsynced and
 *                                         not touched since must read back
 *                                         from DIR (a read-only mount of
 *                                         the checked image)
 *
 * Four files /d/fN.G (G: the operation that gave the name) take buffered
 * and block-aligned writes, truncates, fsync, fdatasync, renames to fresh
 * names, fsync of the directory and syncfs.  What must survive a crash:
 *
 *  - fsync or fdatasync of a file returned: its data and size then, in
 *    the bytes no later operation (the one in flight included) wrote or
 *    truncated away, and its name then;
 *  - fsync of the directory returned: each file's name then;
 *  - syncfs returned ("km+syncfs" only): what an fsync of every file
 *    makes durable.  The kernel passes syncfs(2) on to a FUSE server only
 *    on iomap mounts, and only fuse4fs answers it there.
 *
 * A file may be found under any name it had since its name last became
 * durable.  Operations are the same for "run" and "script" ("km": the
 * kmodel script has no directory fsync and says syncfs instead).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../../kmodel/pattern.h"

#define NFILES	4
#define MAXF	(1 << 20)
#define SETUP	(2 + NFILES)	/* mkdir, creates, syncfs */

enum { MKDIR, CREATE, WRITE, DWRITE, TRUNC, FSYNC, FDATASYNC, RENAME, SYNCFS,
       DIRSYNC, READ };
static const char *opnames[] = { "mkdir", "create", "write", "write", "truncate",
	"fsync", "fdatasync", "rename", "syncfs", "dirsync", "read" };

struct op {
	int type, file;
	uint32_t off, len;
};

struct file {
	uint8_t cur[MAXF], syn[MAXF], touched[MAXF];
	uint32_t size, synsize;
	uint32_t thi;		/* touched holds nothing at or above this */
	int synced;
	long name;		/* current name: /d/fN.<name> */
	long *names;		/* names since the name last became durable */
	int nnames;
};

static struct file files[NFILES];
static struct op *ops;
static long nops;
static int syncfs_durable;
static uint64_t rstate;

static uint64_t rrange(uint64_t n)
{
	rstate += 0x9e3779b97f4a7c15ULL;
	return mix(rstate) % n;
}

static void generate(uint64_t seed, int km)
{
	long i;

	ops = calloc(nops + 1, sizeof(*ops));
	rstate = seed;
	ops[1].type = MKDIR;
	for (i = 0; i < NFILES; i++) {
		ops[2 + i].type = CREATE;
		ops[2 + i].file = i;
	}
	ops[SETUP].type = SYNCFS;
	for (i = SETUP + 1; i <= nops; i++) {
		struct op *o = &ops[i];
		uint64_t r = rrange(100);

		o->file = rrange(NFILES);
		if (r < 40) {
			o->type = WRITE;
			o->len = 1 + rrange(65536);
			o->off = rrange(MAXF - o->len);
		} else if (r < 50) {
			o->type = DWRITE;
			o->len = 4096 * (1 + rrange(16));
			o->off = 4096 * rrange((MAXF - o->len) / 4096);
		} else if (r < 58) {
			o->type = TRUNC;
			o->off = rrange(MAXF);
			if (rrange(2))
				o->off &= ~4095u;
		} else if (r < 70) {
			o->type = FSYNC;
		} else if (r < 76) {
			o->type = FDATASYNC;
		} else if (r < 84) {
			o->type = RENAME;
		} else if (r < 88) {
			o->type = SYNCFS;
		} else if (r < 92) {
			o->type = km ? SYNCFS : DIRSYNC;
		} else {
			o->type = READ;
			o->len = 1 + rrange(65536);
			o->off = rrange(MAXF - o->len);
		}
	}
}

static void path(char *buf, size_t len, int f, long name)
{
	snprintf(buf, len, "/d/f%d.%ld", f, name);
}

static void durable_name(struct file *f)
{
	f->names[0] = f->name;
	f->nnames = 1;
}

static void sync_file(struct file *f)
{
	memcpy(f->syn, f->cur, f->size);
	f->synsize = f->size;
	memset(f->touched, 0, f->thi);
	f->thi = 0;
	f->synced = 1;
}

static void touch(struct file *f, uint32_t a, uint32_t b)
{
	if (a >= b)
		return;
	memset(f->touched + a, 1, b - a);
	if (b > f->thi)
		f->thi = b;
}

/*
 * Operation i into the model: what it may change on disk whether it
 * completed or not, and, if it completed, what it made durable.
 */
static void apply(long i, int done)
{
	struct op *o = &ops[i];
	struct file *f = &files[o->file];
	int j;

	switch (o->type) {
	case CREATE:
		f->name = 0;
		f->names = malloc(sizeof(long) * (nops + 2));
		f->nnames = 0;		/* no name is durable yet */
		f->size = 0;
		break;
	case WRITE:
	case DWRITE:
		touch(f, o->off, o->off + o->len);
		if (!done)
			break;
		pattern(f->cur + o->off, o->off, o->len, i);
		if (o->off + o->len > f->size)
			f->size = o->off + o->len;
		break;
	case TRUNC:
		touch(f, o->off < f->size ? o->off : f->size,
		      o->off < f->size ? f->size : o->off);
		if (!done)
			break;
		/* bytes past the end are kept zero */
		if (o->off < f->size)
			memset(f->cur + o->off, 0, f->size - o->off);
		f->size = o->off;
		break;
	case FSYNC:
	case FDATASYNC:
		if (done) {
			sync_file(f);
			durable_name(f);
		}
		break;
	case RENAME:
		f->names[f->nnames++] = i;
		if (done)
			f->name = i;
		break;
	case SYNCFS:
		for (j = 0; done && syncfs_durable && j < NFILES; j++) {
			sync_file(&files[j]);
			durable_name(&files[j]);
		}
		break;
	case DIRSYNC:
		for (j = 0; done && j < NFILES; j++)
			durable_name(&files[j]);
		break;
	}
}

static int cmd_script(void)
{
	char p[64], q[64];
	long i;

	for (i = 1; i <= nops; i++) {
		struct op *o = &ops[i];
		struct file *f = &files[o->file];

		path(p, sizeof(p), o->file, f->name);
		switch (o->type) {
		case MKDIR:
			printf("mkdir /d\n");
			break;
		case CREATE:
			path(p, sizeof(p), o->file, 0);
			printf("create %s\n", p);
			break;
		case WRITE:
		case DWRITE:
			printf("write %s %u %u %ld%s\n", p, o->off, o->len, i,
			       o->type == DWRITE ? " direct" : "");
			break;
		case TRUNC:
			printf("truncate %s %u\n", p, o->off);
			break;
		case FSYNC:
		case FDATASYNC:
			printf("%s %s\n", opnames[o->type], p);
			break;
		case RENAME:
			path(q, sizeof(q), o->file, i);
			printf("rename %s %s\n", p, q);
			break;
		case SYNCFS:
			printf("syncfs\n");
			break;
		case READ:
			printf("read %s %u %u\n", p, o->off, o->len);
			break;
		}
		apply(i, 1);
	}
	return 0;
}

static int cmd_run(const char *dir)
{
	static uint8_t buf[MAXF];
	int fd[NFILES], dfd = -1, r = 0;
	char p[4200], q[4200], n[64];
	struct stat st;
	long i;

	for (i = 1; i <= nops && !r; i++) {
		struct op *o = &ops[i];
		struct file *f = &files[o->file];

		snprintf(p, sizeof(p), "%s", dir);
		path(n, sizeof(n), o->file, f->name);
		strcat(p, n);
		switch (o->type) {
		case MKDIR:
			snprintf(p, sizeof(p), "%s/d", dir);
			r = mkdir(p, 0755);
			if (!r)
				r = dfd = open(p, O_RDONLY | O_DIRECTORY);
			break;
		case CREATE:
			path(n, sizeof(n), o->file, 0);
			snprintf(p, sizeof(p), "%s%s", dir, n);
			r = fd[o->file] = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
			break;
		case WRITE:
		case DWRITE:
			pattern(buf, o->off, o->len, i);
			errno = 0;
			r = pwrite(fd[o->file], buf, o->len, o->off) == (ssize_t)o->len ? 0 : -1;
			break;
		case TRUNC:
			r = ftruncate(fd[o->file], o->off);
			break;
		case FSYNC:
			r = fsync(fd[o->file]);
			break;
		case FDATASYNC:
			r = fdatasync(fd[o->file]);
			break;
		case RENAME:
			path(n, sizeof(n), o->file, i);
			snprintf(q, sizeof(q), "%s%s", dir, n);
			r = rename(p, q);
			break;
		case SYNCFS:
			r = syncfs(dfd);
			break;
		case DIRSYNC:
			r = fsync(dfd);
			break;
		case READ:
			r = pread(fd[o->file], buf, o->len, o->off) < 0 ? -1 : 0;
			break;
		}
		if (r < 0) {
			/* a short write has no errno; the mount tells */
			int e = errno, gone = stat(dir, &st) < 0 &&
				(errno == ENOTCONN || errno == ECONNABORTED);

			printf("%s at op %ld (%s): %s\n", gone ? "stopped" : "failed", i,
			       opnames[o->type], e ? strerror(e) : "short write");
			return gone ? 0 : 1;
		}
		r = 0;
		apply(i, 1);
	}
	printf("completed %ld\n", nops);
	return 0;
}

/* Does the file under name hold every durable byte? -1 if it is missing */
static long check(const char *dir, int fi, long name, uint32_t *first)
{
	static uint8_t buf[MAXF];
	struct file *f = &files[fi];
	char p[4200], n[64];
	ssize_t got = 0, r;
	long bad = 0;
	uint32_t b;
	int fd;

	path(n, sizeof(n), fi, name);
	snprintf(p, sizeof(p), "%s%s", dir, n);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return -1;
	while (got < MAXF && (r = read(fd, buf + got, MAXF - got)) > 0)
		got += r;
	close(fd);
	for (b = 0; b < f->synsize; b++) {
		if (f->touched[b])
			continue;
		if ((ssize_t)b >= got || buf[b] != f->syn[b]) {
			if (!bad++)
				*first = b;
		}
	}
	return bad;
}

static int cmd_verify(const char *dir, long stop)
{
	long i, lost = 0, lostfiles = 0, bytes = 0;
	int fi, j;

	for (i = 1; i < stop && i <= nops; i++)
		apply(i, 1);
	if (stop <= nops)
		apply(stop, 0);
	for (fi = 0; fi < NFILES && stop > SETUP; fi++) {
		struct file *f = &files[fi];
		long best = -1, b, checked = 0;
		uint32_t first = 0, at = 0;

		if (!f->synced)
			continue;
		for (b = 0; b < f->synsize; b++)
			checked += !f->touched[b];
		for (j = 0; j < f->nnames; j++) {
			b = check(dir, fi, f->names[j], &first);
			if (b >= 0 && (best < 0 || b < best)) {
				best = b;
				at = first;
			}
			if (b == 0)
				break;
		}
		bytes += checked;
		if (best == 0)
			continue;
		lostfiles++;
		if (best < 0) {
			lost += checked;
			printf("file %d: missing under all of its %d possible names (%ld durable bytes)\n",
			       fi, f->nnames, checked);
		} else {
			lost += best;
			printf("file %d: %ld of %ld durable bytes differ, the first at %u\n",
			       fi, best, checked, at);
		}
	}
	printf("durable bytes checked %ld, files lost or damaged %ld, bytes lost %ld\n",
	       bytes, lostfiles, lost);
	return lost ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: crashload run SEED NOPS DIR\n"
		"       crashload script SEED NOPS\n"
		"       crashload verify fuse|km|km+syncfs SEED NOPS K DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int km;

	if (argc < 4)
		usage();
	if (!strcmp(argv[1], "run") && argc == 5) {
		nops = atol(argv[3]);
		generate(strtoull(argv[2], NULL, 0), 0);
		setvbuf(stdout, NULL, _IOLBF, 0);
		return cmd_run(argv[4]);
	}
	if (!strcmp(argv[1], "script") && argc == 4) {
		nops = atol(argv[3]);
		generate(strtoull(argv[2], NULL, 0), 1);
		return cmd_script();
	}
	if (!strcmp(argv[1], "verify") && argc == 7) {
		km = !strncmp(argv[2], "km", 2);
		syncfs_durable = !strcmp(argv[2], "km+syncfs");
		nops = atol(argv[4]);
		generate(strtoull(argv[3], NULL, 0), km);
		return cmd_verify(argv[6], atol(argv[5]));
	}
	usage();
	return 2;
}
