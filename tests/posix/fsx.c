/*
 * fsx: seeded random operations on a few files of a mounted filesystem,
 * every byte read back compared with an in-memory model of what the
 * files must hold.
 *
 *   fsx [OPTIONS] DIR
 *
 *   -s, --seed N       the seed (default 1)
 *   -n, --ops N        operations to run (default 10000)
 *   -f, --files N      files, f0 f1 ... created in DIR (default 4)
 *   -m, --max-size N   largest file size, a multiple of 4096 (default 1M)
 *   -l, --max-len N    longest read or write (default 64K)
 *   -c, --check N      compare every file in full every N operations
 *                      (default 500; 0 only at the end)
 *   -d, --dump DIR     at the end, write what the model says each file
 *                      holds to DIR/f0 DIR/f1 ... (DIR must exist)
 *   -v, --verbose      print every operation as it is done
 * Sizes take a k or m suffix.
 *
 * The operations: buffered pwrite of random bytes anywhere below the
 * maximum size (past the end of file too, leaving holes), pread compared
 * with the model, truncate down and up, fallocate in its default mode,
 * KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE and ZERO_RANGE|KEEP_SIZE,
 * 4096-aligned O_DIRECT writes and reads (through a second descriptor),
 * reads of a shared mapping (with the zeros after the end of file in its
 * last page), writes through a shared mapping followed by msync, fsync,
 * fdatasync, close and reopen, and rename of one file over another (the
 * descriptor of the replaced file, if open, must still read its old
 * contents; the renamed name is then created again, empty).  The files
 * are compared in full, size included, through a fresh descriptor every
 * --check operations and at the end (after POSIX_FADV_DONTNEED, so that
 * clean cached pages are read again from the filesystem).
 *
 * A seed gives the same sequence of operations on every filesystem (the
 * offsets near the end of file follow the model's sizes).  fallocate
 * modes that fail with EOPNOTSUPP, and O_DIRECT if the filesystem refuses
 * it with EINVAL, are skipped and counted.
 *
 * Prints "fsx: seed S: N operations on F files, all contents verified
 * (skipped: ...)" and exits 0.  On the first mismatch or unexpected error
 * it prints the operation's number, the file, the offset and the first
 * differing bytes, then the last 50 operations, and exits 1 (2: usage).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define ALIGN 4096
#define LOG_LEN 50

struct file {
	char name[16];
	unsigned char *data;	/* max_size bytes, zero past size */
	off_t size;
	int fd;			/* -1: closed */
};

static struct file *files;
static unsigned nfiles = 4;
static off_t max_size = 1 << 20;
static size_t max_len = 64 << 10;
static unsigned long nops = 10000, check_every = 500;
static unsigned long long seed = 1;
static const char *dump_dir;
static int dump_fd = -1;
static int verbose;

static unsigned long opnum;		/* the operation being done, 0: setup */
static unsigned char *buf, *back;	/* ALIGN-aligned, max_len bytes */
static long pagesize;
static int direct_ok = 1;

/* ---- the random sequence (splitmix64) ---- */

static uint64_t rng_state;

static uint64_t next64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n)
{
	return next64(&rng_state) % n;
}

/* random bytes of a stream of their own, so that the main sequence does
 * not depend on how much data an operation writes */
static void fill(unsigned char *p, size_t len)
{
	uint64_t s = seed * 0x2545f4914f6cdd1dULL + opnum, v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = next64(&s);
		p[i] = v;
		v >>= 8;
	}
}

/* ---- the log of the last operations ---- */

static char oplog[LOG_LEN][192];
/* the file and the byte range each entry touched (len 0: none) */
static struct {
	const struct file *f;
	off_t off, len;
} logged[LOG_LEN];
static unsigned long nlogged;

static void logop(const char *fmt, ...)
{
	char *s = oplog[nlogged % LOG_LEN];
	va_list ap;
	int n;

	logged[nlogged % LOG_LEN].len = 0;

	n = snprintf(s, sizeof(oplog[0]), "%6lu ", opnum);
	va_start(ap, fmt);
	vsnprintf(s + n, sizeof(oplog[0]) - n, fmt, ap);
	va_end(ap);
	nlogged++;
	if (verbose) {
		printf("%s\n", s);
		fflush(stdout);
	}
}

/* the range of the last entry, for the report of a mismatch */
static void logrange(const struct file *f, off_t off, off_t len)
{
	logged[(nlogged - 1) % LOG_LEN].f = f;
	logged[(nlogged - 1) % LOG_LEN].off = off;
	logged[(nlogged - 1) % LOG_LEN].len = len;
}

/* add to the last entry */
static void lognote(const char *note)
{
	char *s = oplog[(nlogged - 1) % LOG_LEN];
	size_t n = strlen(s);

	snprintf(s + n, sizeof(oplog[0]) - n, " %s", note);
	if (verbose)
		printf("       %s\n", note);
}

static void __attribute__((noreturn)) failed(void)
{
	unsigned long i = nlogged > LOG_LEN ? nlogged - LOG_LEN : 0;

	fprintf(stderr, "fsx: the last %lu operations (number, file, operation):\n",
		nlogged - i);
	for (; i < nlogged; i++)
		fprintf(stderr, "  %s\n", oplog[i % LOG_LEN]);
	fprintf(stderr, "fsx: seed %llu: FAILED at operation %lu of %lu\n",
		seed, opnum, nops);
	exit(1);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
bad(struct file *f, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "fsx: operation %lu: %s: ", opnum, f ? f->name : "-");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed();
}

/* got must be the model's bytes [off, off + len) of f */
static void verify(struct file *f, const char *how, off_t off,
		   const unsigned char *got, size_t len)
{
	const unsigned char *want = f->data + off;
	size_t i, j, ndiff = 0;

	if (!memcmp(got, want, len))
		return;
	for (i = 0; got[i] == want[i]; i++)
		;
	for (j = i; j < len; j++)
		ndiff += got[j] != want[j];
	fflush(stdout);
	fprintf(stderr, "fsx: operation %lu: %s: %s of offset %lld length %zu: "
		"contents differ at offset %lld (0x%llx), %zu bytes differ; "
		"model size %lld\n", opnum, f->name, how, (long long) off, len,
		(long long) (off + i), (long long) (off + i), ndiff,
		(long long) f->size);
	fprintf(stderr, "  expected:");
	for (j = i; j < len && j < i + 16; j++)
		fprintf(stderr, " %02x", want[j]);
	fprintf(stderr, "\n  got:     ");
	for (j = i; j < len && j < i + 16; j++)
		fprintf(stderr, " %02x", got[j]);
	fputc('\n', stderr);
	for (j = nlogged > LOG_LEN ? nlogged - LOG_LEN : 0; j < nlogged; j++)
		if (logged[j % LOG_LEN].f == f && logged[j % LOG_LEN].len &&
		    logged[j % LOG_LEN].off <= off + (off_t) i &&
		    off + (off_t) i < logged[j % LOG_LEN].off + logged[j % LOG_LEN].len)
			fprintf(stderr, "  changed that byte of %s (renames move "
				"contents): %s\n", f->name, oplog[j % LOG_LEN]);
	failed();
}

/* ---- I/O helpers ---- */

static ssize_t pread_full(int fd, unsigned char *p, size_t len, off_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, p + got, len - got, off + got);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

static int pwrite_full(int fd, const unsigned char *p, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pwrite(fd, p + done, len - done, off + done);
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		done += n;
	}
	return 0;
}

static off_t min_off(off_t a, off_t b)
{
	return a < b ? a : b;
}

static void set_size(struct file *f, off_t size)
{
	if (size < f->size)
		memset(f->data + size, 0, f->size - size);
	f->size = size;
}

static void grow(struct file *f, off_t end)
{
	if (end > f->size)
		f->size = end;
}

static void open_file(struct file *f)
{
	if (f->fd >= 0)
		return;
	f->fd = open(f->name, O_RDWR);
	if (f->fd < 0)
		bad(f, "open: %s", strerror(errno));
}

/* ---- the choice of ranges: a, b, c are the operation's random numbers ---- */

/* an offset: a quarter of them near the end of file, the rest anywhere */
static off_t pick_off(struct file *f, uint64_t a, uint64_t b)
{
	off_t off;

	if (a % 4 == 0) {
		off = f->size - 8192 + (off_t) (b % 16384);
		if (off < 0)
			off = b % 16384;
		return min_off(off, max_size - 1);
	}
	return b % max_size;
}

/* a length: a quarter of them short */
static size_t pick_len(off_t off, uint64_t c)
{
	size_t len = c % 4 == 0 ? 1 + (c >> 2) % 512 : 1 + (c >> 2) % max_len;

	return min_off(len, max_size - off);
}

/* ---- the operations ---- */

enum op {
	OP_WRITE, OP_READ, OP_TRUNCATE, OP_FALLOC, OP_DWRITE, OP_DREAD,
	OP_MREAD, OP_MWRITE, OP_FSYNC, OP_FDATASYNC, OP_REOPEN, OP_RENAME,
	NR_OPS
};

static const struct {
	const char *name;
	unsigned weight;
} ops[NR_OPS] = {
	[OP_WRITE] = { "write", 18 },
	[OP_READ] = { "read", 18 },
	[OP_TRUNCATE] = { "truncate", 7 },
	[OP_FALLOC] = { "fallocate", 10 },
	[OP_DWRITE] = { "direct-write", 6 },
	[OP_DREAD] = { "direct-read", 6 },
	[OP_MREAD] = { "mmap-read", 6 },
	[OP_MWRITE] = { "mmap-write", 6 },
	[OP_FSYNC] = { "fsync", 3 },
	[OP_FDATASYNC] = { "fdatasync", 3 },
	[OP_REOPEN] = { "reopen", 5 },
	[OP_RENAME] = { "rename", 3 },
};

static const struct {
	const char *name;
	int mode;
} fmodes[] = {
	{ "default", 0 },
	{ "keep-size", FALLOC_FL_KEEP_SIZE },
	{ "punch-hole", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE },
	{ "zero-range", FALLOC_FL_ZERO_RANGE },
	{ "zero-range-keep-size", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE },
};
#define NR_FMODES (sizeof(fmodes) / sizeof(fmodes[0]))

/* done, refused by the filesystem, nothing to do (a mapping of an empty file) */
static unsigned long done[NR_OPS], skipped[NR_OPS], noop[NR_OPS];
static unsigned long fskipped[NR_FMODES];

static void do_write(struct file *f, uint64_t a, uint64_t b, uint64_t c)
{
	off_t off = pick_off(f, a, b);
	size_t len = pick_len(off, c);

	logop("%s write off=0x%llx len=0x%zx size=0x%llx", f->name,
	      (long long) off, len, (long long) f->size);
	logrange(f, off, len);
	fill(buf, len);
	if (pwrite_full(f->fd, buf, len, off) < 0)
		bad(f, "pwrite at %lld length %zu: %s", (long long) off, len,
		    strerror(errno));
	memcpy(f->data + off, buf, len);
	grow(f, off + len);
}

static void do_read(struct file *f, uint64_t a, uint64_t b, uint64_t c)
{
	off_t off = pick_off(f, a, b);
	size_t len = pick_len(off, c), want;
	ssize_t n;

	want = off < f->size ? min_off(len, f->size - off) : 0;
	logop("%s read off=0x%llx len=0x%zx size=0x%llx", f->name,
	      (long long) off, len, (long long) f->size);
	n = pread_full(f->fd, back, len, off);
	if (n < 0)
		bad(f, "pread at %lld length %zu: %s", (long long) off, len,
		    strerror(errno));
	if ((size_t) n != want)
		bad(f, "pread at %lld length %zu: read %zd bytes, expected %zu "
		    "(model size %lld)", (long long) off, len, n, want,
		    (long long) f->size);
	verify(f, "pread", off, back, n);
}

static void do_truncate(struct file *f, uint64_t a, uint64_t b)
{
	off_t size;

	/* a third down, the rest anywhere up to the maximum size */
	if (a % 3 == 0)
		size = f->size ? b % f->size : 0;
	else
		size = b % (max_size + 1);
	logop("%s truncate 0x%llx -> 0x%llx", f->name, (long long) f->size,
	      (long long) size);
	if (size < f->size)
		logrange(f, size, f->size - size);
	if (ftruncate(f->fd, size) < 0)
		bad(f, "ftruncate to %lld: %s", (long long) size, strerror(errno));
	set_size(f, size);
}

static void do_falloc(struct file *f, uint64_t a, uint64_t b, uint64_t c)
{
	unsigned m = (a >> 8) % NR_FMODES;
	int mode = fmodes[m].mode;
	off_t off = pick_off(f, a, b), end;
	size_t len = pick_len(off, c);

	/* fallocate ranges are longer than I/O: up to 4 times max_len */
	if (c % 3 == 0)
		len = min_off(len * 4, max_size - off);
	end = off + len;
	logop("%s fallocate %s off=0x%llx len=0x%zx size=0x%llx", f->name,
	      fmodes[m].name, (long long) off, len, (long long) f->size);
	if (fallocate(f->fd, mode, off, len) < 0) {
		if (errno == EOPNOTSUPP) {
			lognote("EOPNOTSUPP, skipped");
			fskipped[m]++;
			skipped[OP_FALLOC]++;
			return;
		}
		bad(f, "fallocate %s at %lld length %zu: %s", fmodes[m].name,
		    (long long) off, len, strerror(errno));
	}
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		logrange(f, off, len);
		memset(f->data + off, 0, len);
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE))
		grow(f, end);
}

/* an aligned range for O_DIRECT: up to 16 blocks */
static void pick_direct(uint64_t b, uint64_t c, off_t *off, size_t *len)
{
	size_t most = max_len < 16 * ALIGN ? max_len / ALIGN : 16;

	if (most == 0)
		most = 1;
	*off = (off_t) (b % (max_size / ALIGN)) * ALIGN;
	*len = min_off((1 + c % most) * ALIGN, max_size - *off);
}

static int open_direct(struct file *f, enum op op)
{
	int fd;

	if (!direct_ok) {
		lognote("no O_DIRECT, skipped");
		skipped[op]++;
		return -1;
	}
	fd = open(f->name, O_RDWR | O_DIRECT);
	if (fd < 0 && errno == EINVAL) {
		lognote("open O_DIRECT: EINVAL, skipped");
		direct_ok = 0;
		skipped[op]++;
		return -1;
	}
	if (fd < 0)
		bad(f, "open O_DIRECT: %s", strerror(errno));
	return fd;
}

static void do_dwrite(struct file *f, uint64_t b, uint64_t c)
{
	off_t off;
	size_t len;
	int fd;

	pick_direct(b, c, &off, &len);
	logop("%s direct-write off=0x%llx len=0x%zx size=0x%llx", f->name,
	      (long long) off, len, (long long) f->size);
	fd = open_direct(f, OP_DWRITE);
	if (fd < 0)
		return;
	logrange(f, off, len);
	fill(buf, len);
	if (pwrite_full(fd, buf, len, off) < 0)
		bad(f, "O_DIRECT pwrite at %lld length %zu: %s", (long long) off,
		    len, strerror(errno));
	if (close(fd) < 0)
		bad(f, "close O_DIRECT descriptor: %s", strerror(errno));
	memcpy(f->data + off, buf, len);
	grow(f, off + len);
}

static void do_dread(struct file *f, uint64_t b, uint64_t c)
{
	off_t off;
	size_t len, want;
	ssize_t n;
	int fd;

	pick_direct(b, c, &off, &len);
	want = off < f->size ? min_off(len, f->size - off) : 0;
	logop("%s direct-read off=0x%llx len=0x%zx size=0x%llx", f->name,
	      (long long) off, len, (long long) f->size);
	fd = open_direct(f, OP_DREAD);
	if (fd < 0)
		return;
	/* one call: a short read is only right at the end of file */
	n = pread(fd, back, len, off);
	if (n < 0)
		bad(f, "O_DIRECT pread at %lld length %zu: %s", (long long) off,
		    len, strerror(errno));
	if ((size_t) n != want)
		bad(f, "O_DIRECT pread at %lld length %zu: read %zd bytes, "
		    "expected %zu (model size %lld)", (long long) off, len, n,
		    want, (long long) f->size);
	close(fd);
	verify(f, "O_DIRECT pread", off, back, n);
}

static sigjmp_buf on_sigbus;

static void sigbus(int sig)
{
	(void) sig;
	siglongjmp(on_sigbus, 1);
}

/* a range inside the file for a mapping; 0 if the file is empty */
static int pick_mapped(struct file *f, uint64_t b, uint64_t c, off_t *off,
		       size_t *len)
{
	if (f->size == 0)
		return 0;
	*off = b % f->size;
	*len = 1 + c % min_off(max_len, f->size - *off);
	return 1;
}

static void do_mread(struct file *f, uint64_t b, uint64_t c)
{
	off_t off, start, end, eof_page_end;
	volatile unsigned char *p;
	size_t len;

	if (!pick_mapped(f, b, c, &off, &len)) {
		logop("%s mmap-read: empty file, nothing to map", f->name);
		noop[OP_MREAD]++;
		return;
	}
	start = off & ~(off_t) (pagesize - 1);
	end = (off + len + pagesize - 1) & ~(off_t) (pagesize - 1);
	logop("%s mmap-read off=0x%llx len=0x%zx size=0x%llx", f->name,
	      (long long) off, len, (long long) f->size);
	p = mmap(NULL, end - start, PROT_READ, MAP_SHARED, f->fd, start);
	if (p == MAP_FAILED)
		bad(f, "mmap at %lld length %lld: %s", (long long) start,
		    (long long) (end - start), strerror(errno));
	if (sigsetjmp(on_sigbus, 1))
		bad(f, "SIGBUS reading the mapping of %lld length %lld",
		    (long long) start, (long long) (end - start));
	memcpy(back, (unsigned char *) p + (off - start), len);
	verify(f, "mapped read", off, back, len);
	/* the rest of the page that holds the end of file reads as zeros */
	eof_page_end = (f->size + pagesize - 1) & ~(off_t) (pagesize - 1);
	if (end == eof_page_end && f->size < end) {
		memcpy(back, (unsigned char *) p + (f->size - start), end - f->size);
		verify(f, "mapped read past the end of file (zeros)", f->size,
		       back, end - f->size);
	}
	munmap((void *) p, end - start);
}

static void do_mwrite(struct file *f, uint64_t b, uint64_t c)
{
	off_t off, start, end;
	unsigned char *p;
	size_t len;

	if (!pick_mapped(f, b, c, &off, &len)) {
		logop("%s mmap-write: empty file, nothing to map", f->name);
		noop[OP_MWRITE]++;
		return;
	}
	start = off & ~(off_t) (pagesize - 1);
	end = (off + len + pagesize - 1) & ~(off_t) (pagesize - 1);
	logop("%s mmap-write off=0x%llx len=0x%zx size=0x%llx", f->name,
	      (long long) off, len, (long long) f->size);
	p = mmap(NULL, end - start, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		 start);
	if (p == MAP_FAILED)
		bad(f, "mmap at %lld length %lld: %s", (long long) start,
		    (long long) (end - start), strerror(errno));
	logrange(f, off, len);
	fill(buf, len);
	if (sigsetjmp(on_sigbus, 1))
		bad(f, "SIGBUS writing the mapping of %lld length %lld",
		    (long long) start, (long long) (end - start));
	memcpy(p + (off - start), buf, len);
	if (msync(p, end - start, MS_SYNC) < 0)
		bad(f, "msync: %s", strerror(errno));
	munmap(p, end - start);
	memcpy(f->data + off, buf, len);
}

static void do_sync(struct file *f, int data)
{
	logop("%s %s", f->name, data ? "fdatasync" : "fsync");
	if ((data ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		bad(f, "%s: %s", data ? "fdatasync" : "fsync", strerror(errno));
}

static void do_reopen(struct file *f)
{
	logop("%s close and reopen", f->name);
	if (close(f->fd) < 0)
		bad(f, "close: %s", strerror(errno));
	f->fd = -1;
	open_file(f);
}

/* rename f over t: t takes f's contents (and descriptor); a descriptor
 * of t's old file must still read the old contents; f is created again */
static void do_rename(struct file *f, struct file *t)
{
	unsigned char *data = t->data;
	off_t size = t->size;
	int oldfd = t->fd;
	ssize_t n;

	logop("%s rename over %s (sizes 0x%llx, 0x%llx)", f->name, t->name,
	      (long long) f->size, (long long) t->size);
	if (rename(f->name, t->name) < 0)
		bad(f, "rename to %s: %s", t->name, strerror(errno));
	t->data = f->data;
	t->size = f->size;
	t->fd = f->fd;
	f->data = data;
	f->size = size;
	f->fd = -1;
	if (oldfd >= 0) {
		/* f's model holds the replaced file's contents for now */
		n = pread_full(oldfd, back, min_off(size, max_len), 0);
		if (n != min_off(size, max_len))
			bad(t, "pread of the replaced file's open descriptor: "
			    "%zd bytes, expected %lld: %s", n,
			    (long long) min_off(size, max_len),
			    n < 0 ? strerror(errno) : "short");
		verify(f, "pread of the replaced file (open when renamed over)",
		       0, back, n);
		if (close(oldfd) < 0)
			bad(t, "close of the replaced file: %s", strerror(errno));
	}
	set_size(f, 0);
	f->fd = open(f->name, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (f->fd < 0)
		bad(f, "create after rename: %s", strerror(errno));
}

/* every file in full, through a descriptor of its own, and its size */
static void check_all(void)
{
	struct stat st;
	unsigned i;
	off_t off;
	ssize_t n;
	int fd;

	for (i = 0; i < nfiles; i++) {
		struct file *f = &files[i];

		if (f->fd >= 0) {
			if (fstat(f->fd, &st) < 0)
				bad(f, "fstat: %s", strerror(errno));
			if (st.st_size != f->size)
				bad(f, "fstat: size %lld, model %lld",
				    (long long) st.st_size, (long long) f->size);
		}
		fd = open(f->name, O_RDONLY);
		if (fd < 0)
			bad(f, "open for the full compare: %s", strerror(errno));
		/* read what the filesystem holds, not only the page cache */
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (fstat(fd, &st) < 0)
			bad(f, "fstat: %s", strerror(errno));
		if (st.st_size != f->size)
			bad(f, "size %lld, model %lld", (long long) st.st_size,
			    (long long) f->size);
		for (off = 0; off <= f->size; off += n) {
			n = pread_full(fd, back, max_len, off);
			if (n < 0)
				bad(f, "pread at %lld for the full compare: %s",
				    (long long) off, strerror(errno));
			if (n != min_off(max_len, f->size - off))
				bad(f, "full compare: read %zd bytes at %lld, "
				    "expected %lld", n, (long long) off,
				    (long long) min_off(max_len, f->size - off));
			verify(f, "full compare", off, back, n);
			if (n == 0)
				break;
		}
		close(fd);
	}
}

static void dump(void)
{
	unsigned i;
	int fd;

	for (i = 0; i < nfiles; i++) {
		fd = openat(dump_fd, files[i].name, O_WRONLY | O_CREAT | O_TRUNC,
			    0644);
		if (fd < 0 || pwrite_full(fd, files[i].data, files[i].size, 0) < 0 ||
		    close(fd) < 0) {
			fprintf(stderr, "fsx: %s/%s: %s\n", dump_dir, files[i].name,
				strerror(errno));
			exit(1);
		}
	}
	close(dump_fd);
}

/* ---- main ---- */

static unsigned long long number(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (errno || end == s || *end) {
		fprintf(stderr, "fsx: %s: not a number: %s\n", what, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: fsx [-s SEED] [-n OPS] [-f FILES] [-m MAXSIZE] "
		"[-l MAXLEN] [-c CHECKEVERY] [-d DUMPDIR] [-v] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "files", required_argument, NULL, 'f' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "max-len", required_argument, NULL, 'l' },
		{ "check", required_argument, NULL, 'c' },
		{ "dump", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned total = 0, i, k;
	char skips[512] = "";
	uint64_t r, a, b, c;
	struct file *f;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:n:f:m:l:c:d:v", lopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			seed = number(optarg, "seed");
			break;
		case 'n':
			nops = number(optarg, "ops");
			break;
		case 'f':
			nfiles = number(optarg, "files");
			break;
		case 'm':
			max_size = number(optarg, "max-size");
			break;
		case 'l':
			max_len = number(optarg, "max-len");
			break;
		case 'c':
			check_every = number(optarg, "check");
			break;
		case 'd':
			dump_dir = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	if (nfiles < 2 || nfiles > 1000 || max_size < ALIGN || max_size % ALIGN ||
	    max_len < 1) {
		fprintf(stderr, "fsx: need 2-1000 files, a maximum size that is a "
			"multiple of %d, a maximum length of at least 1\n", ALIGN);
		return 2;
	}
	if (max_len > (size_t) max_size)
		max_len = max_size;
	/* opened before the chdir: a relative name is the caller's */
	if (dump_dir) {
		dump_fd = open(dump_dir, O_RDONLY | O_DIRECTORY);
		if (dump_fd < 0) {
			perror(dump_dir);
			return 1;
		}
	}
	if (chdir(argv[optind]) < 0) {
		perror(argv[optind]);
		return 1;
	}
	pagesize = sysconf(_SC_PAGESIZE);
	signal(SIGBUS, sigbus);
	rng_state = seed;
	if (posix_memalign((void **) &buf, ALIGN, max_len) ||
	    posix_memalign((void **) &back, ALIGN, max_len) ||
	    !(files = calloc(nfiles, sizeof(*files)))) {
		fprintf(stderr, "fsx: out of memory\n");
		return 1;
	}
	for (i = 0; i < nfiles; i++) {
		f = &files[i];
		snprintf(f->name, sizeof(f->name), "f%u", i);
		/* a page more, for the zeros after the end of file */
		f->data = calloc(1, max_size + pagesize);
		if (!f->data) {
			fprintf(stderr, "fsx: out of memory\n");
			return 1;
		}
		f->fd = open(f->name, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (f->fd < 0)
			bad(f, "create: %s", strerror(errno));
	}
	for (k = 0; k < NR_OPS; k++)
		total += ops[k].weight;

	for (opnum = 1; opnum <= nops; opnum++) {
		/* the same five random numbers for every operation */
		r = rnd(total);
		f = &files[rnd(nfiles)];
		a = next64(&rng_state);
		b = next64(&rng_state);
		c = next64(&rng_state);
		for (k = 0; r >= ops[k].weight; k++)
			r -= ops[k].weight;
		open_file(f);
		switch (k) {
		case OP_WRITE:
			do_write(f, a, b, c);
			break;
		case OP_READ:
			do_read(f, a, b, c);
			break;
		case OP_TRUNCATE:
			do_truncate(f, a, b);
			break;
		case OP_FALLOC:
			do_falloc(f, a, b, c);
			break;
		case OP_DWRITE:
			do_dwrite(f, b, c);
			break;
		case OP_DREAD:
			do_dread(f, b, c);
			break;
		case OP_MREAD:
			do_mread(f, b, c);
			break;
		case OP_MWRITE:
			do_mwrite(f, b, c);
			break;
		case OP_FSYNC:
		case OP_FDATASYNC:
			do_sync(f, k == OP_FDATASYNC);
			break;
		case OP_REOPEN:
			do_reopen(f);
			break;
		case OP_RENAME:
			do_rename(f, &files[(f - files + 1 + a % (nfiles - 1)) % nfiles]);
			break;
		}
		done[k]++;
		if (check_every && opnum % check_every == 0)
			check_all();
	}
	opnum = nops;
	check_all();
	for (i = 0; i < nfiles; i++)
		if (files[i].fd >= 0 && close(files[i].fd) < 0)
			bad(&files[i], "close: %s", strerror(errno));
	if (dump_fd >= 0)
		dump();

	printf("fsx: operations:");
	for (k = 0; k < NR_OPS; k++)
		printf(" %s %lu", ops[k].name,
		       done[k] - skipped[k] - noop[k]);
	printf("\n");
	for (k = 0; k < NR_OPS; k++) {
		if (!skipped[k] || k == OP_FALLOC)
			continue;
		snprintf(skips + strlen(skips), sizeof(skips) - strlen(skips),
			 "%s%s %lu", *skips ? ", " : "", ops[k].name, skipped[k]);
	}
	for (k = 0; k < NR_FMODES; k++) {
		if (!fskipped[k])
			continue;
		snprintf(skips + strlen(skips), sizeof(skips) - strlen(skips),
			 "%sfallocate-%s %lu", *skips ? ", " : "", fmodes[k].name,
			 fskipped[k]);
	}
	printf("fsx: seed %llu: %lu operations on %u files, all contents verified "
	       "(skipped: %s)\n", seed, nops, nfiles, *skips ? skips : "none");
	return 0;
}
