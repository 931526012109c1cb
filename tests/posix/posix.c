/*
 * posix: run a fixed list of POSIX behaviour checks in a directory of a
 * mounted filesystem and print one line a check, "name: result".
 *
 *   posix DIR
 *
 * DIR must be empty and the program must run as root: some checks switch
 * to unprivileged ids (uid/gid 1000 and 1001, supplementary group 2000) in
 * a child process.  The output depends only on how the filesystem behaves:
 * no inode numbers, no timestamps, only errno names, sizes, modes and
 * relations ("mtime=changed").  A check whose preparation fails prints a
 * "setup-error" line, which no reference output contains.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>

/* ext4 with 4 KiB blocks: the largest file size (2^32 - 1 blocks) */
#define EXT4_MAXBYTES 17592186040320LL

#define MIB (1024 * 1024)

/* ---- output ---- */

static void put(const char *check, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", check);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* the errno's name, "ok" for 0 */
static const char *en(int e)
{
	const char *s;

	if (e == 0)
		return "ok";
	s = strerrorname_np(e);
	return s ? s : "E?";
}

/* 0 if a call succeeded, else its errno */
#define ERR(call) ((call) < 0 ? errno : 0)

static const char *yesno(int b)
{
	return b ? "yes" : "no";
}

/* preparation that must work; a failure shows up as an extra line */
static int must(long r, const char *what)
{
	if (r < 0)
		put("setup-error", "%s: %s", what, en(errno));
	return r < 0 ? -1 : 0;
}

/* ---- small file helpers ---- */

static int mkfile(const char *p, const void *buf, size_t len, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (must(fd, p))
		return -1;
	if (len && must(write(fd, buf, len) == (ssize_t) len ? 0 : -1, p)) {
		close(fd);
		return -1;
	}
	must(fchmod(fd, mode), p);
	close(fd);
	return 0;
}

static int mkstr(const char *p, const char *s, mode_t mode)
{
	return mkfile(p, s, strlen(s), mode);
}

static int mkown(const char *p, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkstr(p, "data\n", 0600))
		return -1;
	if (must(chown(p, uid, gid), p) || must(chmod(p, mode), p))
		return -1;
	return 0;
}

static int mkdirown(const char *p, mode_t mode, uid_t uid, gid_t gid)
{
	if (must(mkdir(p, 0700), p) || must(chown(p, uid, gid), p) ||
	    must(chmod(p, mode), p))
		return -1;
	return 0;
}

/* whole file into buf (at most max bytes); the length or -1 */
static ssize_t slurp(const char *p, char *buf, size_t max)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(p, O_RDONLY);

	if (fd < 0)
		return -1;
	while (got < max && (n = read(fd, buf + got, max - got)) > 0)
		got += n;
	close(fd);
	return got;
}

/* the file's content is exactly s */
static int is(const char *p, const char *s)
{
	char buf[256];
	ssize_t n = slurp(p, buf, sizeof(buf));

	return n == (ssize_t) strlen(s) && !memcmp(buf, s, n);
}

static int all(const char *buf, int c, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != c)
			return 0;
	return 1;
}

static int try_open(const char *p, int flags, mode_t mode)
{
	int fd = open(p, flags, mode);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static struct stat st_of(const char *p)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	must(lstat(p, &st), p);
	return st;
}

static off_t size_of(const char *p)
{
	return st_of(p).st_size;
}

static unsigned mode_of(const char *p)
{
	return st_of(p).st_mode & 07777;
}

static int exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* ---- timestamps: only whether they changed ---- */

/* long enough for a coarse kernel clock to move on */
static void tick(void)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };

	nanosleep(&t, NULL);
}

static int ts_ne(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec || a.tv_nsec != b.tv_nsec;
}

/* "mtime=changed ctime=same" between two stats of the same file */
static const char *tchange(const struct stat *b, const struct stat *a)
{
	static char s[64];

	snprintf(s, sizeof(s), "mtime=%s ctime=%s",
		 ts_ne(b->st_mtim, a->st_mtim) ? "changed" : "same",
		 ts_ne(b->st_ctim, a->st_ctim) ? "changed" : "same");
	return s;
}

/* ---- running an operation as an unprivileged user ---- */

struct cred {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[1];
};

static const struct cred U = { 1000, 1000, 0, { 0 } };
static const struct cred V = { 1001, 1001, 0, { 0 } };
/* U with the supplementary group 2000 */
static const struct cred UG = { 1000, 1000, 1, { 2000 } };

enum uop {
	U_READ, U_WRITE, U_APPEND, U_OPEN_TRUNC, U_CREATE, U_STAT, U_OPENDIR,
	U_READDIR, U_CHDIR, U_ACCESS, U_UNLINK, U_RMDIR, U_MKDIR, U_RENAME,
	U_CHMOD, U_CHOWN, U_TRUNCATE, U_UTIMES_NOW, U_UTIMES_SET,
	U_UTIMES_OMIT_NOW, U_SETXATTR, U_GETXATTR, U_REMOVEXATTR, U_LISTXATTR,
	U_MKNOD_CHR, U_LINK, U_SYMLINK,
};

/* text an operation run by as() reports (a listing, a name list) */
static char as_out[4096];

static int child_op(enum uop op, const char *a, const char *b, long n,
		    long m, int out)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	char buf[4096];
	struct dirent *de;
	ssize_t len;
	DIR *d;
	int fd, r = 0;

	switch (op) {
	case U_READ:
		fd = open(a, O_RDONLY);
		if (fd < 0)
			return errno;
		r = ERR(read(fd, buf, sizeof(buf)));
		close(fd);
		return r;
	case U_WRITE:
	case U_APPEND:
		fd = open(a, op == U_WRITE ? O_WRONLY : O_WRONLY | O_APPEND);
		if (fd < 0)
			return errno;
		r = write(fd, "w", 1) == 1 ? 0 : errno;
		close(fd);
		return r;
	case U_OPEN_TRUNC:
		return try_open(a, O_WRONLY | O_TRUNC, 0);
	case U_CREATE:
		return try_open(a, O_WRONLY | O_CREAT | O_EXCL, 0644);
	case U_STAT:
		return ERR(lstat(a, (struct stat *) buf));
	case U_OPENDIR:
	case U_READDIR:
		d = opendir(a);
		if (!d)
			return errno;
		while (op == U_READDIR && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (write(out, de->d_name, strlen(de->d_name)) < 0 ||
			    write(out, " ", 1) < 0)
				r = errno;
		}
		closedir(d);
		return r;
	case U_CHDIR:
		return ERR(chdir(a));
	case U_ACCESS:
		return ERR(access(a, n));
	case U_UNLINK:
		return ERR(unlink(a));
	case U_RMDIR:
		return ERR(rmdir(a));
	case U_MKDIR:
		return ERR(mkdir(a, 0755));
	case U_RENAME:
		return ERR(rename(a, b));
	case U_CHMOD:
		return ERR(chmod(a, n));
	case U_CHOWN:
		return ERR(chown(a, n, m));
	case U_TRUNCATE:
		return ERR(truncate(a, n));
	case U_UTIMES_NOW:
		return ERR(utimensat(AT_FDCWD, a, NULL, 0));
	case U_UTIMES_SET:
		return ERR(utimensat(AT_FDCWD, a, ts, 0));
	case U_UTIMES_OMIT_NOW:
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_nsec = UTIME_NOW;
		return ERR(utimensat(AT_FDCWD, a, ts, 0));
	case U_SETXATTR:
		return ERR(setxattr(a, b, "v", 1, n));
	case U_GETXATTR:
		return ERR(getxattr(a, b, buf, sizeof(buf)));
	case U_REMOVEXATTR:
		return ERR(removexattr(a, b));
	case U_LISTXATTR:
		len = listxattr(a, buf, sizeof(buf));
		if (len < 0)
			return errno;
		if (write(out, buf, len) < 0)
			return errno;
		return 0;
	case U_MKNOD_CHR:
		return ERR(mknod(a, S_IFCHR | 0600, makedev(1, 3)));
	case U_LINK:
		return ERR(link(a, b));
	case U_SYMLINK:
		return ERR(symlink(a, b));
	}
	return EINVAL;
}

/* run op as c in a child; 0 or the errno; text it reports in as_out */
static int as(const struct cred *c, enum uop op, const char *a, const char *b,
	      long n, long m)
{
	int pfd[2], st, r;
	ssize_t len, got = 0;
	pid_t pid;

	as_out[0] = 0;
	if (pipe(pfd) < 0)
		return errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		close(pfd[0]);
		if (setgroups(c->ngroups, c->groups) < 0 ||
		    setresgid(c->gid, c->gid, c->gid) < 0 ||
		    setresuid(c->uid, c->uid, c->uid) < 0)
			_exit(254);
		r = child_op(op, a, b, n, m, pfd[1]);
		_exit(r > 253 ? 253 : r);
	}
	close(pfd[1]);
	while ((len = read(pfd[0], as_out + got,
			   sizeof(as_out) - 1 - got)) > 0)
		got += len;
	as_out[got] = 0;
	close(pfd[0]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return 253;
	return WEXITSTATUS(st);
}

/* the result of as() as text */
static const char *ase(int r)
{
	if (r == 254)
		return "setup-error (could not change ids)";
	if (r == 253)
		return "child died";
	return en(r);
}

/* ---- the checks ---- */

static void check_open(void)
{
	char buf[64];
	struct stat b, a;
	int fd, r;

	mkstr("o1", "hello", 0644);
	r = try_open("o2", O_WRONLY | O_CREAT | O_EXCL, 0666);
	put("open-creat-excl-new", "%s mode=%04o", en(r), mode_of("o2"));
	put("open-creat-excl-existing", "%s",
	    en(try_open("o1", O_WRONLY | O_CREAT | O_EXCL, 0644)));
	must(symlink("o-target", "o-dangling"), "o-dangling");
	put("open-creat-excl-dangling-symlink", "%s",
	    en(try_open("o-dangling", O_WRONLY | O_CREAT | O_EXCL, 0644)));
	r = try_open("o-dangling", O_WRONLY | O_CREAT, 0644);
	put("open-creat-dangling-symlink", "%s target-created=%s",
	    en(r), yesno(exists("o-target")));
	r = try_open("o1", O_RDWR | O_CREAT, 0644);
	put("open-creat-existing-no-excl", "%s content-kept=%s",
	    en(r), yesno(is("o1", "hello")));

	b = st_of("o1");
	tick();
	fd = open("o1", O_WRONLY | O_TRUNC);
	a = st_of("o1");
	put("open-trunc", "%s size=%lld %s", en(fd < 0 ? errno : 0),
	    (long long) a.st_size, tchange(&b, &a));
	if (fd >= 0)
		close(fd);
	b = st_of("o1");
	tick();
	fd = open("o1", O_WRONLY | O_TRUNC);
	a = st_of("o1");
	put("open-trunc-empty-file", "%s %s", en(fd < 0 ? errno : 0),
	    tchange(&b, &a));
	if (fd >= 0)
		close(fd);
	r = try_open("o2", O_RDONLY | O_TRUNC, 0);
	put("open-rdonly-trunc", "%s size=%lld",
	    en(r), (long long) size_of("o2"));

	mkstr("o3", "12345", 0644);
	fd = open("o3", O_WRONLY | O_APPEND);
	if (!must(fd, "o3")) {
		lseek(fd, 0, SEEK_SET);
		put("open-append-write", "%s",
		    en(write(fd, "abc", 3) == 3 ? 0 : errno));
		put("open-append-pwrite", "%s",
		    en(pwrite(fd, "XY", 2, 0) == 2 ? 0 : errno));
		put("open-append-offset-after-write", "%lld",
		    (long long) lseek(fd, 0, SEEK_CUR));
		close(fd);
		memset(buf, 0, sizeof(buf));
		slurp("o3", buf, sizeof(buf) - 1);
		put("open-append-content", "%s", buf);
	}
	fd = open("o3", O_RDONLY);
	if (!must(fd, "o3")) {
		put("write-on-rdonly-fd", "%s", en(ERR(write(fd, "x", 1))));
		close(fd);
	}
	fd = open("o3", O_WRONLY);
	if (!must(fd, "o3")) {
		put("read-on-wronly-fd", "%s", en(ERR(read(fd, buf, 1))));
		close(fd);
	}
	must(mkdir("od", 0755), "od");
	put("open-dir-wronly", "%s", en(try_open("od", O_WRONLY, 0)));
	put("open-dir-rdonly", "%s", en(try_open("od", O_RDONLY, 0)));
	put("open-directory-flag-on-file", "%s",
	    en(try_open("o1", O_RDONLY | O_DIRECTORY, 0)));
	put("open-missing", "%s", en(try_open("o-missing", O_RDONLY, 0)));
	put("open-through-file", "%s", en(try_open("o1/x", O_RDONLY, 0)));
	put("open-trailing-slash-file", "%s", en(try_open("o1/", O_RDONLY, 0)));
	put("open-creat-trailing-slash", "%s",
	    en(try_open("o-new/", O_WRONLY | O_CREAT, 0644)));
	put("open-creat-missing-dir", "%s",
	    en(try_open("o-missing/x", O_WRONLY | O_CREAT, 0644)));
	must(symlink("o1", "o-link"), "o-link");
	put("open-nofollow-symlink", "%s",
	    en(try_open("o-link", O_RDONLY | O_NOFOLLOW, 0)));
	must(symlink("o-loop2", "o-loop1"), "o-loop1");
	must(symlink("o-loop1", "o-loop2"), "o-loop2");
	put("open-symlink-loop", "%s", en(try_open("o-loop1", O_RDONLY, 0)));
	r = try_open("o4", O_WRONLY | O_CREAT, 0777);
	put("open-creat-umask", "%s mode=%04o", en(r), mode_of("o4"));
}

static void check_rw(void)
{
	static char buf[2 * MIB], want[16384];
	struct stat st;
	ssize_t n;
	int fd, i;

	for (i = 0; i < (int) sizeof(want); i++)
		want[i] = 'a' + i % 23;
	fd = open("rw1", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "rw1"))
		return;
	put("write-10000", "%zd", write(fd, want, 10000));
	n = pread(fd, buf, sizeof(buf), 0);
	put("read-back", "n=%zd equal=%s",
	    n, yesno(n == 10000 && !memcmp(buf, want, n)));
	memcpy(want + 5000, "XYZ", 3);
	put("pwrite-5000", "%zd", pwrite(fd, "XYZ", 3, 5000));
	n = pread(fd, buf, sizeof(buf), 0);
	put("pwrite-read-back", "n=%zd equal=%s", n,
	    yesno(n == 10000 && !memcmp(buf, want, n)));
	put("pwrite-beyond-eof-16000", "%zd", pwrite(fd, want, 100, 16000));
	n = pread(fd, buf, sizeof(buf), 0);
	put("pwrite-beyond-eof-gap", "n=%zd zeros=%s data=%s", n,
	    yesno(n == 16100 && all(buf + 10000, 0, 6000)),
	    yesno(n == 16100 && !memcmp(buf + 16000, want, 100)));
	put("pread-at-eof", "%zd", pread(fd, buf, 100, 16100));
	put("pread-across-eof", "%zd", pread(fd, buf, 100, 16050));
	put("pread-beyond-eof", "%zd", pread(fd, buf, 100, 1000000));
	put("read-offset-after-write", "%lld",
	    (long long) lseek(fd, 0, SEEK_CUR));
	put("lseek-negative", "%s", en(ERR(lseek(fd, -1, SEEK_SET))));
	put("lseek-end", "%lld", (long long) lseek(fd, 0, SEEK_END));
	close(fd);

	fd = open("rw-sparse", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "rw-sparse"))
		return;
	pwrite(fd, want, 100, MIB + 100);
	fsync(fd);
	fstat(fd, &st);
	n = pread(fd, buf, sizeof(buf), 0);
	put("sparse-write", "size=%lld blocks=%lld read=%zd hole-zeros=%s data=%s",
	    (long long) st.st_size, (long long) st.st_blocks, n,
	    yesno(n == MIB + 200 && all(buf, 0, MIB + 100)),
	    yesno(n == MIB + 200 && !memcmp(buf + MIB + 100, want, 100)));
	close(fd);

	fd = open("od", O_RDONLY);
	if (!must(fd, "od")) {
		put("read-on-dir", "%s", en(ERR(read(fd, buf, 10))));
		close(fd);
	}
}

static void check_truncate(void)
{
	static char buf[16384];
	struct stat b, a;
	ssize_t n;
	int fd, r;

	mkstr("t1", "0123456789", 0644);
	b = st_of("t1");
	tick();
	put("truncate-up", "%s", en(ERR(truncate("t1", 100000))));
	a = st_of("t1");
	n = slurp("t1", buf, sizeof(buf));
	put("truncate-up-result", "size=%lld head=%s tail-zeros=%s blocks=%s %s",
	    (long long) a.st_size, yesno(!memcmp(buf, "0123456789", 10)),
	    yesno(n == sizeof(buf) && all(buf + 10, 0, n - 10)),
	    a.st_blocks == b.st_blocks ? "same" : "changed", tchange(&b, &a));
	b = st_of("t1");
	tick();
	put("truncate-down", "%s", en(ERR(truncate("t1", 3))));
	a = st_of("t1");
	put("truncate-down-result", "size=%lld content=%s %s",
	    (long long) a.st_size, yesno(is("t1", "012")), tchange(&b, &a));
	b = st_of("t1");
	tick();
	put("truncate-same-size", "%s", en(ERR(truncate("t1", 3))));
	a = st_of("t1");
	put("truncate-same-size-times", "%s", tchange(&b, &a));

	/* bytes past the new EOF in its last block must not come back */
	memset(buf, 'A', 8192);
	mkfile("t2", buf, 8192, 0644);
	fd = open("t2", O_RDWR);
	if (!must(fd, "t2")) {
		fsync(fd);
		ftruncate(fd, 100);
		ftruncate(fd, 8192);
		n = pread(fd, buf, sizeof(buf), 0);
		put("truncate-down-up-stale-data", "size=%zd head=%s zeros=%s", n,
		    yesno(all(buf, 'A', 100)), yesno(n == 8192 && all(buf + 100, 0, 8092)));
		close(fd);
	}
	fd = open("t2", O_RDONLY);
	if (!must(fd, "t2")) {
		put("ftruncate-rdonly-fd", "%s", en(ERR(ftruncate(fd, 0))));
		close(fd);
	}
	put("truncate-negative", "%s", en(ERR(truncate("t2", -1))));
	put("truncate-dir", "%s", en(ERR(truncate("od", 0))));
	put("truncate-missing", "%s", en(ERR(truncate("t-missing", 0))));
	put("truncate-max-file-size", "%s",
	    en(ERR(truncate("t2", EXT4_MAXBYTES))));
	r = ERR(truncate("t2", EXT4_MAXBYTES + 1));
	put("truncate-beyond-max", "%s size=%lld",
	    en(r), (long long) size_of("t2"));
	truncate("t2", 0);
	fd = open("t2", O_RDWR);
	if (!must(fd, "t2")) {
		n = pwrite(fd, "z", 1, EXT4_MAXBYTES - 1);
		put("pwrite-last-byte-of-max", "%zd size=%lld", n,
		    (long long) size_of("t2"));
		put("pwrite-at-max", "%s",
		    en(ERR(pwrite(fd, "z", 1, EXT4_MAXBYTES))));
		put("pwrite-across-max", "%zd",
		    pwrite(fd, "zzzz", 4, EXT4_MAXBYTES - 2));
		ftruncate(fd, 0);
		close(fd);
	}
}

static void check_unlink_open(void)
{
	char buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	mkstr("u1", "still here", 0644);
	fd = open("u1", O_RDWR);
	if (must(fd, "u1"))
		return;
	put("unlink-open-file", "%s", en(ERR(unlink("u1"))));
	put("unlink-open-name-gone", "%s", en(ERR(lstat("u1", &st))));
	fstat(fd, &st);
	put("unlink-open-fstat", "nlink=%ld size=%lld", (long) st.st_nlink,
	    (long long) st.st_size);
	n = pread(fd, buf, sizeof(buf), 0);
	put("unlink-open-read", "n=%zd equal=%s",
	    n, yesno(n == 10 && !memcmp(buf, "still here", 10)));
	put("unlink-open-write", "%zd", pwrite(fd, "!!", 2, 10));
	n = pread(fd, buf, sizeof(buf), 0);
	put("unlink-open-read-after-write", "n=%zd", n);
	put("unlink-open-fchmod", "%s", en(ERR(fchmod(fd, 0600))));
	put("unlink-open-fsync", "%s", en(ERR(fsync(fd))));
	put("unlink-open-close", "%s", en(ERR(close(fd))));
	put("unlink-missing", "%s", en(ERR(unlink("u1"))));
	put("unlink-dir", "%s", en(ERR(unlink("od"))));
	put("unlink-trailing-slash", "%s", en(ERR(unlink("o1/"))));
}

static const char *type_of(const char *p)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		return en(errno);
	switch (st.st_mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFSOCK: return "sock";
	}
	return "?";
}

static void check_rename(void)
{
	struct stat b, a, bs, as_, bd, ad, p1, p2, q1, q2, x, y;
	int fd, r;
	char buf[64];

	mkdir("r", 0755);
	mkstr("r/a", "aaa", 0644);
	mkstr("r/b", "bbb", 0644);
	fd = open("r/b", O_RDONLY);
	put("rename-over-file", "%s", en(ERR(rename("r/a", "r/b"))));
	put("rename-over-file-result", "old=%s new-content-from-old=%s",
	    type_of("r/a"), yesno(is("r/b", "aaa")));
	if (fd >= 0) {
		memset(buf, 0, sizeof(buf));
		put("rename-over-file-old-target-open-fd", "%s",
		    pread(fd, buf, sizeof(buf), 0) == 3 && !strcmp(buf, "bbb") ?
		    "readable" : "not readable");
		close(fd);
	}
	mkdir("r/d1", 0755);
	mkdir("r/d2", 0755);
	mkdir("r/full", 0755);
	mkstr("r/full/f", "x", 0644);
	put("rename-file-over-dir", "%s", en(ERR(rename("r/b", "r/d1"))));
	put("rename-dir-over-file", "%s", en(ERR(rename("r/d1", "r/b"))));
	put("rename-dir-over-nonempty-dir", "%s",
	    en(ERR(rename("r/d1", "r/full"))));
	mkdir("r/d1/sub", 0755);
	put("rename-dir-into-own-subdir", "%s",
	    en(ERR(rename("r/d1", "r/d1/sub/x"))));
	put("rename-dir-onto-own-subdir", "%s",
	    en(ERR(rename("r/d1", "r/d1/sub"))));
	rmdir("r/d1/sub");
	b = st_of("r");
	put("rename-dir-over-empty-dir", "%s", en(ERR(rename("r/d1", "r/d2"))));
	a = st_of("r");
	put("rename-dir-over-empty-dir-result", "old=%s new=%s parent-nlink-delta=%ld",
	    type_of("r/d1"), type_of("r/d2"), (long) a.st_nlink - (long) b.st_nlink);
	put("rename-to-itself", "%s", en(ERR(rename("r/b", "r/b"))));
	link("r/b", "r/b-link");
	r = ERR(rename("r/b", "r/b-link"));
	put("rename-hardlink-onto-other-name", "%s names=%s,%s",
	    en(r), type_of("r/b"), type_of("r/b-link"));
	put("rename-missing", "%s", en(ERR(rename("r/missing", "r/x"))));
	put("rename-into-missing-dir", "%s",
	    en(ERR(rename("r/b", "r/missing/x"))));
	put("rename-dot", "%s", en(ERR(rename("r/.", "r/x"))));
	put("rename-trailing-slash-file", "%s", en(ERR(rename("r/b/", "r/x"))));

	mkstr("r/n1", "n1", 0644);
	mkstr("r/n2", "n2", 0644);
	put("rename-noreplace-existing", "%s",
	    en(ERR(renameat2(AT_FDCWD, "r/n1", AT_FDCWD, "r/n2", RENAME_NOREPLACE))));
	r = ERR(renameat2(AT_FDCWD, "r/n1", AT_FDCWD, "r/n3", RENAME_NOREPLACE));
	put("rename-noreplace-new", "%s content=%s",
	    en(r), yesno(is("r/n3", "n1")));
	mkdir("r/xd", 0755);
	mkstr("r/xd/inside", "i", 0644);
	put("rename-exchange-file-dir", "%s",
	    en(ERR(renameat2(AT_FDCWD, "r/n2", AT_FDCWD, "r/xd", RENAME_EXCHANGE))));
	put("rename-exchange-file-dir-result", "n2=%s xd=%s inside=%s n2-dotdot-is-r=%s",
	    type_of("r/n2"), type_of("r/xd"), yesno(exists("r/n2/inside")),
	    yesno(st_of("r/n2/..").st_ino == st_of("r").st_ino));
	mkdir("r/other", 0755);
	p1 = st_of("r");
	p2 = st_of("r/other");
	mkstr("r/other/f", "f", 0644);
	put("rename-exchange-file-and-dir-across-dirs", "%s",
	    en(ERR(renameat2(AT_FDCWD, "r/n2", AT_FDCWD, "r/other/f", RENAME_EXCHANGE))));
	q1 = st_of("r");
	q2 = st_of("r/other");
	put("rename-exchange-across-dirs-result",
	    "n2=%s other/f=%s r-nlink-delta=%ld other-nlink-delta=%ld dotdot-is-other=%s",
	    type_of("r/n2"), type_of("r/other/f"),
	    (long) q1.st_nlink - (long) p1.st_nlink,
	    (long) q2.st_nlink - (long) p2.st_nlink,
	    yesno(st_of("r/other/f/..").st_ino == q2.st_ino));
	put("rename-exchange-missing", "%s",
	    en(ERR(renameat2(AT_FDCWD, "r/n3", AT_FDCWD, "r/missing", RENAME_EXCHANGE))));
	put("rename-exchange-and-noreplace", "%s",
	    en(ERR(renameat2(AT_FDCWD, "r/n3", AT_FDCWD, "r/n2",
			     RENAME_EXCHANGE | RENAME_NOREPLACE))));
	put("rename-whiteout", "%s",
	    en(ERR(renameat2(AT_FDCWD, "r/n3", AT_FDCWD, "r/n4", RENAME_WHITEOUT))));
	put("rename-whiteout-result", "old=%s new=%s",
	    type_of("r/n3"), type_of("r/n4"));

	/* a directory moved to another parent: link counts and ".." */
	mkdir("r/p1", 0755);
	mkdir("r/p2", 0755);
	mkdir("r/p1/m", 0755);
	p1 = st_of("r/p1");
	p2 = st_of("r/p2");
	put("rename-dir-across-dirs", "%s",
	    en(ERR(rename("r/p1/m", "r/p2/m"))));
	q1 = st_of("r/p1");
	q2 = st_of("r/p2");
	put("rename-dir-across-dirs-result",
	    "src-nlink-delta=%ld dst-nlink-delta=%ld dotdot-is-dst=%s",
	    (long) q1.st_nlink - (long) p1.st_nlink,
	    (long) q2.st_nlink - (long) p2.st_nlink,
	    yesno(st_of("r/p2/m/..").st_ino == q2.st_ino));

	/* timestamps: the moved inode's ctime, both parents' mtime and ctime */
	mkstr("r/p1/tf", "t", 0644);
	bs = st_of("r/p1/tf");
	bd = st_of("r/p1");
	b = st_of("r/p2");
	tick();
	rename("r/p1/tf", "r/p2/tf");
	as_ = st_of("r/p2/tf");
	ad = st_of("r/p1");
	a = st_of("r/p2");
	put("rename-times-inode", "%s", tchange(&bs, &as_));
	put("rename-times-src-dir", "%s", tchange(&bd, &ad));
	put("rename-times-dst-dir", "%s", tchange(&b, &a));
	mkstr("r/p2/victim", "v", 0644);
	link("r/p2/victim", "r/p2/victim2");
	x = st_of("r/p2/victim2");
	tick();
	rename("r/p2/tf", "r/p2/victim");
	y = st_of("r/p2/victim2");
	put("rename-over-file-times-replaced-inode", "nlink=%ld %s",
	    (long) y.st_nlink, tchange(&x, &y));
}

static void check_link(void)
{
	struct stat b, a, db, da;
	int r;

	mkdir("l", 0755);
	mkstr("l/f", "link me", 0644);
	b = st_of("l/f");
	db = st_of("l");
	tick();
	put("link", "%s", en(ERR(link("l/f", "l/g"))));
	a = st_of("l/f");
	da = st_of("l");
	put("link-result", "nlink=%ld same-inode=%s content=%s", (long) a.st_nlink,
	    yesno(a.st_ino == st_of("l/g").st_ino), yesno(is("l/g", "link me")));
	put("link-times-inode", "%s", tchange(&b, &a));
	put("link-times-dir", "%s", tchange(&db, &da));
	put("link-existing", "%s", en(ERR(link("l/f", "l/g"))));
	put("link-missing-source", "%s", en(ERR(link("l/missing", "l/h"))));
	mkdir("l/d", 0755);
	put("link-dir", "%s", en(ERR(link("l/d", "l/d2"))));
	symlink("f", "l/s");
	r = ERR(link("l/s", "l/s2"));
	put("link-symlink", "%s type=%s", en(r), type_of("l/s2"));
	r = ERR(linkat(AT_FDCWD, "l/s", AT_FDCWD, "l/s3", AT_SYMLINK_FOLLOW));
	put("link-symlink-follow", "%s type=%s", en(r), type_of("l/s3"));
	put("link-count-after-follow", "%ld", (long) st_of("l/f").st_nlink);
	b = st_of("l/f");
	db = st_of("l");
	tick();
	put("unlink-one-link", "%s", en(ERR(unlink("l/g"))));
	a = st_of("l/f");
	da = st_of("l");
	put("unlink-one-link-result", "nlink=%ld content=%s", (long) a.st_nlink,
	    yesno(is("l/f", "link me")));
	put("unlink-times-inode", "%s", tchange(&b, &a));
	put("unlink-times-dir", "%s", tchange(&db, &da));
	put("link-into-missing-dir", "%s", en(ERR(link("l/f", "l/missing/x"))));
}

static void check_symlink(void)
{
	static char target[5000], buf[5000];
	struct stat st;
	ssize_t n;
	int len;

	mkdir("s", 0755);
	put("symlink", "%s", en(ERR(symlink("../o1", "s/l1"))));
	n = readlink("s/l1", buf, sizeof(buf));
	put("symlink-readlink", "n=%zd equal=%s",
	    n, yesno(n == 5 && !memcmp(buf, "../o1", 5)));
	st = st_of("s/l1");
	put("symlink-lstat", "size=%lld mode=%04o", (long long) st.st_size,
	    (unsigned) st.st_mode & 07777);
	put("symlink-follow", "%s", en(ERR(stat("s/l1", &st))));
	put("symlink-follow-type", "%s",
	    S_ISREG(st.st_mode) ? "file" : "other");
	for (len = 0; len < (int) sizeof(target) - 1; len++)
		target[len] = "abcdefghij/"[len % 11];
	/* 59 bytes fit in the inode, 60 do not */
	{
		static const int lens[] = { 59, 60, 500, 4094, 4095, 4096, 4097 };
		unsigned i;
		char name[32];

		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			char c = target[lens[i]];
			char check[64];

			target[lens[i]] = 0;
			snprintf(name, sizeof(name), "s/len%d", lens[i]);
			snprintf(check, sizeof(check), "symlink-target-%d", lens[i]);
			put(check, "%s", en(ERR(symlink(target, name))));
			n = readlink(name, buf, sizeof(buf));
			snprintf(check, sizeof(check), "symlink-readlink-%d", lens[i]);
			if (n < 0)
				put(check, "%s", en(errno));
			else
				put(check, "n=%zd equal=%s size=%lld", n,
				    yesno(n == lens[i] && !memcmp(buf, target, n)),
				    (long long) st_of(name).st_size);
			target[lens[i]] = c;
		}
	}
	put("symlink-existing", "%s", en(ERR(symlink("x", "s/l1"))));
	put("symlink-empty-target", "%s", en(ERR(symlink("", "s/empty"))));
	put("readlink-not-symlink", "%s",
	    en(ERR(readlink("o1", buf, sizeof(buf)))));
	put("readlink-missing", "%s",
	    en(ERR(readlink("s/missing", buf, sizeof(buf)))));
	n = readlink("s/l1", buf, 3);
	put("readlink-short-buffer", "n=%zd", n);
}

static void check_dirs(void)
{
	char dents[4096];
	struct stat b, a, st;
	int dfd, n, r;

	b = st_of(".");
	put("mkdir", "%s", en(ERR(mkdir("m", 0777))));
	a = st_of(".");
	st = st_of("m");
	put("mkdir-result", "mode=%04o nlink=%ld parent-nlink-delta=%ld size=%lld",
	    (unsigned) st.st_mode & 07777, (long) st.st_nlink,
	    (long) a.st_nlink - (long) b.st_nlink, (long long) st.st_size);
	put("mkdir-existing-dir", "%s", en(ERR(mkdir("m", 0755))));
	put("mkdir-existing-file", "%s", en(ERR(mkdir("o1", 0755))));
	put("mkdir-existing-symlink", "%s", en(ERR(mkdir("o-link", 0755))));
	put("mkdir-trailing-slash", "%s", en(ERR(mkdir("m2/", 0755))));
	put("mkdir-missing-parent", "%s", en(ERR(mkdir("m-missing/x", 0755))));
	mkstr("m/f", "x", 0644);
	put("rmdir-nonempty", "%s", en(ERR(rmdir("m"))));
	put("rmdir-file", "%s", en(ERR(rmdir("m/f"))));
	put("rmdir-dot", "%s", en(ERR(rmdir("m/."))));
	put("rmdir-dotdot", "%s", en(ERR(rmdir("m/.."))));
	put("rmdir-missing", "%s", en(ERR(rmdir("m-missing"))));
	put("rmdir-symlink-to-dir", "%s",
	    (symlink("m", "m-link"), en(ERR(rmdir("m-link")))));
	b = st_of(".");
	put("rmdir", "%s", en(ERR(rmdir("m2"))));
	a = st_of(".");
	put("rmdir-result", "parent-nlink-delta=%ld",
	    (long) a.st_nlink - (long) b.st_nlink);
	st = st_of("m/..");
	put("dotdot-is-parent", "%s", yesno(st.st_ino == st_of(".").st_ino));

	/* a directory removed while open: no new entries, nothing listed */
	mkdir("m3", 0755);
	dfd = open("m3", O_RDONLY | O_DIRECTORY);
	if (!must(dfd, "m3")) {
		rmdir("m3");
		put("create-in-removed-dir", "%s",
		    en(ERR(openat(dfd, "x", O_WRONLY | O_CREAT, 0644))));
		put("mkdir-in-removed-dir", "%s",
		    en(ERR(mkdirat(dfd, "x", 0755))));
		r = ERR(fstat(dfd, &st));
		put("fstat-removed-dir", "%s nlink=%ld",
		    en(r), r ? -1L : (long) st.st_nlink);
		n = syscall(SYS_getdents64, dfd, dents, sizeof(dents));
		put("getdents-removed-dir", "%s",
		    n < 0 ? en(errno) : n ? "entries" : "none");
		close(dfd);
	}

	/* BSD group semantics of setgid directories */
	mkdir("sg", 0755);
	chown("sg", 0, 1234);
	chmod("sg", 02775);
	mkdir("sg/sub", 0755);
	mkstr("sg/f", "x", 0644);
	st = st_of("sg/sub");
	put("setgid-dir-subdir", "gid=%d setgid=%s", (int) st.st_gid,
	    yesno(st.st_mode & S_ISGID));
	st = st_of("sg/f");
	put("setgid-dir-file", "gid=%d setgid=%s", (int) st.st_gid,
	    yesno(st.st_mode & S_ISGID));
	put("setgid-dir-mkdir-as-nonmember", "%s",
	    ase(as(&U, U_MKDIR, "sg/u", NULL, 0, 0)));
	chmod("sg", 02777);
	put("setgid-dir-mkdir-as-nonmember-writable", "%s",
	    ase(as(&U, U_MKDIR, "sg/u", NULL, 0, 0)));
	st = st_of("sg/u");
	put("setgid-dir-subdir-of-nonmember", "uid=%d gid=%d setgid=%s",
	    (int) st.st_uid, (int) st.st_gid, yesno(st.st_mode & S_ISGID));
}

static void check_mknod(void)
{
	struct stat st;
	int r;

	mkdir("n", 0755);
	r = ERR(mkfifo("n/fifo", 0666));
	put("mkfifo", "%s type=%s mode=%04o",
	    en(r), type_of("n/fifo"), mode_of("n/fifo"));
	put("mkfifo-existing", "%s", en(ERR(mkfifo("n/fifo", 0666))));
	put("fifo-open-nonblock-write-no-reader", "%s",
	    en(try_open("n/fifo", O_WRONLY | O_NONBLOCK, 0)));
	put("fifo-open-nonblock-read", "%s",
	    en(try_open("n/fifo", O_RDONLY | O_NONBLOCK, 0)));
	put("mknod-chr", "%s",
	    en(ERR(mknod("n/chr", S_IFCHR | 0644, makedev(1, 3)))));
	st = st_of("n/chr");
	put("mknod-chr-result", "type=%s rdev=%u:%u", type_of("n/chr"),
	    major(st.st_rdev), minor(st.st_rdev));
	put("mknod-blk", "%s",
	    en(ERR(mknod("n/blk", S_IFBLK | 0600, makedev(7, 200)))));
	st = st_of("n/blk");
	put("mknod-blk-result", "type=%s rdev=%u:%u", type_of("n/blk"),
	    major(st.st_rdev), minor(st.st_rdev));
	r = ERR(mknod("n/sock", S_IFSOCK | 0644, 0));
	put("mknod-sock", "%s type=%s", en(r), type_of("n/sock"));
	r = ERR(mknod("n/reg", S_IFREG | 0644, 0));
	put("mknod-reg", "%s type=%s size=%lld",
	    en(r), type_of("n/reg"), (long long) size_of("n/reg"));
	put("mknod-existing", "%s",
	    en(ERR(mknod("n/chr", S_IFCHR | 0644, makedev(1, 3)))));
	chmod("n", 0777);
	put("mknod-chr-unprivileged", "%s",
	    ase(as(&U, U_MKNOD_CHR, "n/uchr", NULL, 0, 0)));
}

static void check_chmod_chown(void)
{
	struct stat b, a;
	int r;

	mkdir("c", 0777);
	chmod("c", 0777);
	mkstr("c/f", "x", 0644);
	b = st_of("c/f");
	tick();
	put("chmod-root", "%s", en(ERR(chmod("c/f", 0640))));
	a = st_of("c/f");
	put("chmod-root-result", "mode=%04o %s",
	    (unsigned) a.st_mode & 07777, tchange(&b, &a));
	put("chmod-non-owner", "%s",
	    ase(as(&U, U_CHMOD, "c/f", NULL, 0666, 0)));
	mkown("c/uf", 0644, 1000, 1000);
	r = as(&U, U_CHMOD, "c/uf", NULL, 0600, 0);
	put("chmod-owner", "%s mode=%04o", ase(r), mode_of("c/uf"));
	r = as(&U, U_CHMOD, "c/uf", NULL, 04755, 0);
	put("chmod-owner-setuid", "%s mode=%04o", ase(r), mode_of("c/uf"));
	r = as(&U, U_CHMOD, "c/uf", NULL, 02755, 0);
	put("chmod-owner-setgid-own-group", "%s mode=%04o",
	    ase(r), mode_of("c/uf"));
	chown("c/uf", 1000, 3000);
	r = as(&U, U_CHMOD, "c/uf", NULL, 02755, 0);
	put("chmod-owner-setgid-other-group", "%s mode=%04o",
	    ase(r), mode_of("c/uf"));
	r = as(&U, U_CHMOD, "c/uf", NULL, 01755, 0);
	put("chmod-owner-sticky-file", "%s mode=%04o", ase(r), mode_of("c/uf"));
	chown("c/uf", 1000, 1000);
	put("chown-root", "%s", en(ERR(chown("c/f", 4321, 5432))));
	b = st_of("c/f");
	put("chown-root-result", "uid=%d gid=%d",
	    (int) b.st_uid, (int) b.st_gid);
	chown("c/f", 0, 0);
	put("chown-non-root-to-other-uid", "%s",
	    ase(as(&U, U_CHOWN, "c/uf", NULL, 1001, -1)));
	put("chown-non-owner-group", "%s",
	    ase(as(&V, U_CHOWN, "c/uf", NULL, -1, 1001)));
	put("chown-owner-to-own-uid", "%s",
	    ase(as(&U, U_CHOWN, "c/uf", NULL, 1000, -1)));
	put("chown-owner-to-nonmember-group", "%s",
	    ase(as(&U, U_CHOWN, "c/uf", NULL, -1, 2000)));
	r = as(&UG, U_CHOWN, "c/uf", NULL, -1, 2000);
	put("chown-owner-to-member-group", "%s gid=%d",
	    ase(r), (int) st_of("c/uf").st_gid);
	put("chown-owner-noop", "%s",
	    ase(as(&U, U_CHOWN, "c/uf", NULL, -1, -1)));
	symlink("uf", "c/sl");
	put("lchown-symlink", "%s", en(ERR(lchown("c/sl", 1000, 1000))));
	put("lchown-symlink-result", "uid=%d target-uid=%d", (int) st_of("c/sl").st_uid,
	    (int) st_of("c/uf").st_uid);

	/* setuid and setgid go away on writes and owner changes */
	mkown("c/s1", 06777, 0, 0);
	r = as(&U, U_WRITE, "c/s1", NULL, 0, 0);
	put("write-unprivileged-clears-suid-sgid", "%s mode=%04o",
	    ase(r), mode_of("c/s1"));
	mkown("c/s2", 02666, 0, 0);
	r = as(&U, U_WRITE, "c/s2", NULL, 0, 0);
	put("write-unprivileged-sgid-without-gexec", "%s mode=%04o",
	    ase(r), mode_of("c/s2"));
	mkown("c/s3", 04766, 0, 0);
	r = as(&U, U_WRITE, "c/s3", NULL, 0, 0);
	put("write-unprivileged-suid-only", "%s mode=%04o",
	    ase(r), mode_of("c/s3"));
	mkown("c/s4", 06777, 0, 0);
	{
		int fd = open("c/s4", O_WRONLY);

		if (!must(fd, "c/s4")) {
			r = write(fd, "r", 1);
			put("write-root-keeps-suid-sgid", "%d mode=%04o", r,
			    mode_of("c/s4"));
			close(fd);
		}
	}
	mkown("c/s5", 06777, 0, 0);
	r = as(&U, U_TRUNCATE, "c/s5", NULL, 1, 0);
	put("truncate-unprivileged-clears-suid-sgid", "%s mode=%04o",
	    ase(r), mode_of("c/s5"));
	mkown("c/s6", 06755, 0, 0);
	r = ERR(chown("c/s6", 1000, 1000));
	put("chown-root-clears-suid-sgid", "%s mode=%04o",
	    en(r), mode_of("c/s6"));
	mkown("c/s7", 02644, 0, 0);
	r = ERR(chown("c/s7", 1000, 1000));
	put("chown-root-sgid-without-gexec", "%s mode=%04o",
	    en(r), mode_of("c/s7"));
	mkown("c/s8", 06755, 1000, 1000);
	r = as(&UG, U_CHOWN, "c/s8", NULL, -1, 2000);
	put("chown-owner-clears-suid-sgid", "%s mode=%04o",
	    ase(r), mode_of("c/s8"));
	mkown("c/s9", 06755, 0, 0);
	r = ERR(chown("c/s9", -1, -1));
	put("chown-root-noop-ids", "%s mode=%04o", en(r), mode_of("c/s9"));
	mkown("c/s11", 06755, 0, 0);
	r = ERR(chown("c/s11", 0, 0));
	put("chown-root-same-ids", "%s mode=%04o", en(r), mode_of("c/s11"));
	mkown("c/s10", 06777, 1000, 1000);
	r = as(&V, U_CHMOD, "c/s10", NULL, 0777, 0);
	put("chmod-non-owner-drops-suid", "%s mode=%04o",
	    ase(r), mode_of("c/s10"));
	mkdirown("c/sd", 02777, 0, 0);
	r = as(&U, U_CREATE, "c/sd/new", NULL, 0, 0);
	put("write-unprivileged-dir-setgid-kept", "%s mode=%04o",
	    ase(r), mode_of("c/sd"));
}

static void ts_put(const char *check, const char *p)
{
	struct stat st = st_of(p);

	put(check, "atime=%lld.%09ld mtime=%lld.%09ld",
	    (long long) st.st_atim.tv_sec, st.st_atim.tv_nsec,
	    (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void check_utimes(void)
{
	struct timespec ts[2];
	struct stat b, a;
	time_t now;

	mkdir("ut", 0777);
	chmod("ut", 0777);
	mkstr("ut/f", "x", 0666);
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1100000000;
	ts[1].tv_nsec = 987654321;
	b = st_of("ut/f");
	tick();
	put("utimensat-set", "%s", en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	a = st_of("ut/f");
	ts_put("utimensat-set-result", "ut/f");
	put("utimensat-set-ctime", "%s",
	    ts_ne(b.st_ctim, a.st_ctim) ? "changed" : "same");
	ts[0].tv_sec = 1200000000;
	ts[0].tv_nsec = 5;
	ts[1].tv_nsec = UTIME_OMIT;
	put("utimensat-omit-mtime", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	ts_put("utimensat-omit-mtime-result", "ut/f");
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1300000000;
	ts[1].tv_nsec = 0;
	put("utimensat-omit-atime", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	ts_put("utimensat-omit-atime-result", "ut/f");
	b = st_of("ut/f");
	tick();
	ts[1].tv_nsec = UTIME_OMIT;
	put("utimensat-omit-both", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	a = st_of("ut/f");
	put("utimensat-omit-both-result", "%s", tchange(&b, &a));
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_NOW;
	now = time(NULL);
	put("utimensat-now", "%s", en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	a = st_of("ut/f");
	put("utimensat-now-result", "mtime-is-now=%s atime-is-now=%s",
	    yesno(a.st_mtim.tv_sec >= now - 1 && a.st_mtim.tv_sec <= time(NULL)),
	    yesno(a.st_atim.tv_sec >= now - 1 && a.st_atim.tv_sec <= time(NULL)));
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = 1300000000;
	ts[1].tv_nsec = UTIME_NOW;
	put("utimensat-atime-zero-mtime-now", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	put("utimensat-atime-zero-result", "atime=%lld",
	    (long long) st_of("ut/f").st_atim.tv_sec);
	/* ext4 keeps 34 bits of seconds: from 1901 to 2446 */
	ts[0].tv_sec = -1000000000;
	ts[0].tv_nsec = 1;
	ts[1].tv_sec = 4102444800LL;
	ts[1].tv_nsec = 999999999;
	put("utimensat-1938-and-2100", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	ts_put("utimensat-1938-and-2100-result", "ut/f");
	ts[0].tv_sec = -3000000000LL;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = 20000000000LL;
	ts[1].tv_nsec = 0;
	put("utimensat-out-of-range", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	ts_put("utimensat-out-of-range-result", "ut/f");
	ts[0].tv_nsec = 1000000000;
	put("utimensat-bad-nsec", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/f", ts, 0))));
	symlink("f", "ut/l");
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = 1000000001;
	ts[1].tv_nsec = 0;
	put("utimensat-nofollow", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/l", ts, AT_SYMLINK_NOFOLLOW))));
	put("utimensat-nofollow-result", "link-mtime=%lld target-mtime-unchanged=%s",
	    (long long) st_of("ut/l").st_mtim.tv_sec,
	    yesno(st_of("ut/f").st_mtim.tv_sec != 1000000001));

	/* who may set times: the owner any, writers only "now" */
	put("utimensat-non-owner-explicit", "%s",
	    ase(as(&U, U_UTIMES_SET, "ut/f", NULL, 0, 0)));
	put("utimensat-non-owner-now-writable", "%s",
	    ase(as(&U, U_UTIMES_NOW, "ut/f", NULL, 0, 0)));
	put("utimensat-non-owner-omit-now-writable", "%s",
	    ase(as(&U, U_UTIMES_OMIT_NOW, "ut/f", NULL, 0, 0)));
	mkstr("ut/ro", "x", 0644);
	put("utimensat-non-owner-now-not-writable", "%s",
	    ase(as(&U, U_UTIMES_NOW, "ut/ro", NULL, 0, 0)));
	mkown("ut/own", 0444, 1000, 1000);
	put("utimensat-owner-explicit", "%s",
	    ase(as(&U, U_UTIMES_SET, "ut/own", NULL, 0, 0)));
	put("utimensat-owner-now-not-writable", "%s",
	    ase(as(&U, U_UTIMES_NOW, "ut/own", NULL, 0, 0)));
	put("utimensat-missing", "%s",
	    en(ERR(utimensat(AT_FDCWD, "ut/missing", NULL, 0))));
}

/* which of mtime and ctime an operation changes */
static void check_times(void)
{
	struct stat b, a;
	char buf[16];
	int fd;

	mkdir("tm", 0755);
	mkstr("tm/f", "0123456789", 0644);
	fd = open("tm/f", O_RDWR);
	if (must(fd, "tm/f"))
		return;
	b = st_of("tm/f");
	tick();
	pwrite(fd, "a", 1, 0);
	a = st_of("tm/f");
	put("times-write", "%s", tchange(&b, &a));
	b = a;
	tick();
	pwrite(fd, "a", 0, 0);
	a = st_of("tm/f");
	put("times-write-zero-bytes", "%s", tchange(&b, &a));
	b = a;
	tick();
	pread(fd, buf, sizeof(buf), 0);
	a = st_of("tm/f");
	put("times-read", "%s", tchange(&b, &a));
	b = a;
	tick();
	ftruncate(fd, 5);
	a = st_of("tm/f");
	put("times-ftruncate", "%s", tchange(&b, &a));
	b = a;
	tick();
	fchmod(fd, 0600);
	a = st_of("tm/f");
	put("times-chmod", "%s", tchange(&b, &a));
	b = a;
	tick();
	fchown(fd, 0, 0);
	a = st_of("tm/f");
	put("times-chown-noop", "%s", tchange(&b, &a));
	b = a;
	tick();
	fchown(fd, 7, 7);
	a = st_of("tm/f");
	put("times-chown", "%s", tchange(&b, &a));
	b = a;
	tick();
	fsetxattr(fd, "user.t", "1", 1, 0);
	a = st_of("tm/f");
	put("times-setxattr", "%s", tchange(&b, &a));
	b = a;
	tick();
	fremovexattr(fd, "user.t");
	a = st_of("tm/f");
	put("times-removexattr", "%s", tchange(&b, &a));
	b = a;
	tick();
	fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 65536);
	a = st_of("tm/f");
	put("times-fallocate-keep-size", "%s", tchange(&b, &a));
	b = a;
	tick();
	fallocate(fd, 0, 0, 131072);
	a = st_of("tm/f");
	put("times-fallocate-extend", "%s", tchange(&b, &a));
	b = a;
	tick();
	fsync(fd);
	a = st_of("tm/f");
	put("times-fsync", "%s", tchange(&b, &a));
	close(fd);

	b = st_of("tm");
	tick();
	mkstr("tm/new", "", 0644);
	a = st_of("tm");
	put("times-dir-create", "%s", tchange(&b, &a));
	b = a;
	tick();
	mkdir("tm/sub", 0755);
	a = st_of("tm");
	put("times-dir-mkdir", "%s", tchange(&b, &a));
	b = a;
	tick();
	symlink("x", "tm/sl");
	a = st_of("tm");
	put("times-dir-symlink", "%s", tchange(&b, &a));
	b = a;
	tick();
	unlink("tm/new");
	a = st_of("tm");
	put("times-dir-unlink", "%s", tchange(&b, &a));
	b = a;
	tick();
	rmdir("tm/sub");
	a = st_of("tm");
	put("times-dir-rmdir", "%s", tchange(&b, &a));
	b = a;
	tick();
	rename("tm/sl", "tm/sl2");
	a = st_of("tm");
	put("times-dir-rename-within", "%s", tchange(&b, &a));
	b = a;
	tick();
	setxattr("tm", "user.d", "1", 1, 0);
	a = st_of("tm");
	put("times-dir-setxattr", "%s", tchange(&b, &a));

	mkstr("tm/m", "", 0644);
	fd = open("tm/m", O_RDWR);
	if (!must(fd, "tm/m")) {
		char *p;

		ftruncate(fd, 65536);
		b = st_of("tm/m");
		tick();
		p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			memset(p, 'm', 4096);
			msync(p, 65536, MS_SYNC);
			munmap(p, 65536);
		}
		a = st_of("tm/m");
		put("times-mmap-write", "%s", tchange(&b, &a));
		close(fd);
	}
}

static void check_perms(void)
{
	mkdir("p", 0755);
	mkstr("p/000", "secret\n", 0000);
	mkstr("p/444", "ro\n", 0444);
	mkstr("p/644", "rw\n", 0644);
	mkstr("p/744", "x\n", 0744);
	mkstr("p/001", "x\n", 0001);
	put("perm-000-read", "%s", ase(as(&U, U_READ, "p/000", NULL, 0, 0)));
	put("perm-000-write", "%s", ase(as(&U, U_WRITE, "p/000", NULL, 0, 0)));
	put("perm-000-read-root", "%s", en(try_open("p/000", O_RDONLY, 0)));
	put("perm-000-write-root", "%s", en(try_open("p/000", O_WRONLY, 0)));
	put("perm-000-stat", "%s", ase(as(&U, U_STAT, "p/000", NULL, 0, 0)));
	put("perm-444-write", "%s", ase(as(&U, U_WRITE, "p/444", NULL, 0, 0)));
	put("perm-444-read", "%s", ase(as(&U, U_READ, "p/444", NULL, 0, 0)));
	put("perm-644-trunc", "%s",
	    ase(as(&U, U_OPEN_TRUNC, "p/644", NULL, 0, 0)));
	put("perm-644-truncate", "%s",
	    ase(as(&U, U_TRUNCATE, "p/644", NULL, 0, 0)));
	put("perm-644-append", "%s",
	    ase(as(&U, U_APPEND, "p/644", NULL, 0, 0)));
	put("perm-001-read", "%s", ase(as(&U, U_READ, "p/001", NULL, 0, 0)));
	mkstr("p/711", "x\n", 0711);
	put("perm-711-read", "%s", ase(as(&U, U_READ, "p/711", NULL, 0, 0)));
	put("perm-access-r-644", "%s",
	    ase(as(&U, U_ACCESS, "p/644", NULL, R_OK, 0)));
	put("perm-access-w-644", "%s",
	    ase(as(&U, U_ACCESS, "p/644", NULL, W_OK, 0)));
	put("perm-access-x-644", "%s",
	    ase(as(&U, U_ACCESS, "p/644", NULL, X_OK, 0)));
	put("perm-access-x-744", "%s",
	    ase(as(&U, U_ACCESS, "p/744", NULL, X_OK, 0)));
	put("perm-access-x-001", "%s",
	    ase(as(&U, U_ACCESS, "p/001", NULL, X_OK, 0)));
	put("perm-root-access-x-644", "%s", en(ERR(access("p/644", X_OK))));
	put("perm-root-access-x-001", "%s", en(ERR(access("p/001", X_OK))));
	put("perm-root-access-w-444", "%s", en(ERR(access("p/444", W_OK))));

	/* owner, group and other classes: the first that matches decides */
	mkown("p/u077", 0077, 1000, 1000);
	put("perm-owner-class-first", "%s",
	    ase(as(&U, U_READ, "p/u077", NULL, 0, 0)));
	mkown("p/g040", 0040, 0, 1000);
	put("perm-group-class", "%s",
	    ase(as(&U, U_READ, "p/g040", NULL, 0, 0)));
	mkown("p/g704", 0704, 0, 1000);
	put("perm-group-class-first", "%s",
	    ase(as(&U, U_READ, "p/g704", NULL, 0, 0)));
	mkown("p/sg040", 0040, 0, 2000);
	put("perm-supplementary-group", "%s",
	    ase(as(&UG, U_READ, "p/sg040", NULL, 0, 0)));
	put("perm-not-in-group", "%s",
	    ase(as(&U, U_READ, "p/sg040", NULL, 0, 0)));
	mkown("p/o004", 0004, 0, 0);
	put("perm-other-class", "%s",
	    ase(as(&U, U_READ, "p/o004", NULL, 0, 0)));

	/* directories: read lists, search looks up, write+search changes */
	mkdirown("p/d000", 0700, 0, 0);
	mkstr("p/d000/f", "f\n", 0644);
	chmod("p/d000", 0000);
	put("perm-dir-000-opendir", "%s",
	    ase(as(&U, U_OPENDIR, "p/d000", NULL, 0, 0)));
	put("perm-dir-000-lookup", "%s",
	    ase(as(&U, U_STAT, "p/d000/f", NULL, 0, 0)));
	put("perm-dir-000-chdir", "%s",
	    ase(as(&U, U_CHDIR, "p/d000", NULL, 0, 0)));
	put("perm-dir-000-opendir-root", "%s",
	    en(try_open("p/d000", O_RDONLY | O_DIRECTORY, 0)));
	put("perm-dir-000-lookup-root", "%s",
	    en(try_open("p/d000/f", O_RDONLY, 0)));
	mkdirown("p/d444", 0700, 0, 0);
	mkstr("p/d444/f", "f\n", 0644);
	chmod("p/d444", 0444);
	put("perm-dir-444-readdir", "%s names=%s",
	    ase(as(&U, U_READDIR, "p/d444", NULL, 0, 0)), as_out);
	put("perm-dir-444-lookup", "%s",
	    ase(as(&U, U_STAT, "p/d444/f", NULL, 0, 0)));
	put("perm-dir-444-read-file", "%s",
	    ase(as(&U, U_READ, "p/d444/f", NULL, 0, 0)));
	mkdirown("p/d111", 0700, 0, 0);
	mkstr("p/d111/f", "f\n", 0644);
	chmod("p/d111", 0111);
	put("perm-dir-111-opendir", "%s",
	    ase(as(&U, U_OPENDIR, "p/d111", NULL, 0, 0)));
	put("perm-dir-111-lookup", "%s",
	    ase(as(&U, U_STAT, "p/d111/f", NULL, 0, 0)));
	put("perm-dir-111-read-file", "%s",
	    ase(as(&U, U_READ, "p/d111/f", NULL, 0, 0)));
	put("perm-dir-111-chdir", "%s",
	    ase(as(&U, U_CHDIR, "p/d111", NULL, 0, 0)));
	mkdirown("p/d555", 0555, 0, 0);
	mkstr("p/d555/f", "f\n", 0666);
	put("perm-dir-555-create", "%s",
	    ase(as(&U, U_CREATE, "p/d555/new", NULL, 0, 0)));
	put("perm-dir-555-mkdir", "%s",
	    ase(as(&U, U_MKDIR, "p/d555/new", NULL, 0, 0)));
	put("perm-dir-555-unlink", "%s",
	    ase(as(&U, U_UNLINK, "p/d555/f", NULL, 0, 0)));
	put("perm-dir-555-rename-within", "%s",
	    ase(as(&U, U_RENAME, "p/d555/f", "p/d555/g", 0, 0)));
	put("perm-dir-555-write-file", "%s",
	    ase(as(&U, U_WRITE, "p/d555/f", NULL, 0, 0)));
	put("perm-dir-555-symlink", "%s",
	    ase(as(&U, U_SYMLINK, "x", "p/d555/s", 0, 0)));
	mkdirown("p/d333", 0333, 0, 0);
	put("perm-dir-333-create", "%s",
	    ase(as(&U, U_CREATE, "p/d333/new", NULL, 0, 0)));
	put("perm-dir-333-readdir", "%s",
	    ase(as(&U, U_OPENDIR, "p/d333", NULL, 0, 0)));
	put("perm-dir-333-unlink-own", "%s",
	    ase(as(&U, U_UNLINK, "p/d333/new", NULL, 0, 0)));
	mkdirown("p/d666", 0666, 0, 0);
	put("perm-dir-666-create", "%s",
	    ase(as(&U, U_CREATE, "p/d666/new", NULL, 0, 0)));
	put("perm-dir-666-readdir", "%s",
	    ase(as(&U, U_READDIR, "p/d666", NULL, 0, 0)));

	/* search permission on every component of a path */
	mkdirown("p/a", 0700, 0, 0);
	mkdirown("p/a/b", 0777, 0, 0);
	mkstr("p/a/b/c", "c\n", 0666);
	put("perm-search-path-component", "%s",
	    ase(as(&U, U_READ, "p/a/b/c", NULL, 0, 0)));
	put("perm-search-path-create", "%s",
	    ase(as(&U, U_CREATE, "p/a/b/new", NULL, 0, 0)));

	/* links and renames need write permission on the source's dir too */
	mkdirown("p/w", 0777, 0, 0);
	mkown("p/w/rootfile", 0644, 0, 0);
	put("perm-link-to-others-file", "%s",
	    ase(as(&U, U_LINK, "p/w/rootfile", "p/w/hl", 0, 0)));
	put("perm-rename-from-555-dir", "%s",
	    ase(as(&U, U_RENAME, "p/d555/f", "p/w/f", 0, 0)));
	mkdirown("p/w/rootdir", 0755, 0, 0);
	put("perm-rename-others-dir-to-other-parent", "%s",
	    ase(as(&U, U_RENAME, "p/w/rootdir", "p/d333/rootdir", 0, 0)));
	put("perm-rename-others-dir-same-parent", "%s",
	    ase(as(&U, U_RENAME, "p/w/rootdir", "p/w/rootdir2", 0, 0)));
	put("perm-unlink-others-file-in-writable-dir", "%s",
	    ase(as(&U, U_UNLINK, "p/w/rootfile", NULL, 0, 0)));
}

static void check_sticky(void)
{
	mkdirown("st", 01777, 0, 0);
	mkown("st/a", 0666, 1000, 1000);
	mkown("st/b", 0666, 1001, 1001);
	mkown("st/r", 0666, 0, 0);
	mkdirown("st/ud", 0777, 1000, 1000);
	put("sticky-other-unlink", "%s",
	    ase(as(&V, U_UNLINK, "st/a", NULL, 0, 0)));
	put("sticky-other-rename-away", "%s",
	    ase(as(&V, U_RENAME, "st/a", "st/x", 0, 0)));
	put("sticky-other-rename-over", "%s",
	    ase(as(&V, U_RENAME, "st/b", "st/a", 0, 0)));
	put("sticky-other-rmdir", "%s",
	    ase(as(&V, U_RMDIR, "st/ud", NULL, 0, 0)));
	put("sticky-other-unlink-root-file", "%s",
	    ase(as(&V, U_UNLINK, "st/r", NULL, 0, 0)));
	put("sticky-other-write", "%s",
	    ase(as(&V, U_WRITE, "st/a", NULL, 0, 0)));
	put("sticky-owner-rename", "%s",
	    ase(as(&U, U_RENAME, "st/a", "st/a2", 0, 0)));
	put("sticky-owner-unlink", "%s",
	    ase(as(&U, U_UNLINK, "st/a2", NULL, 0, 0)));
	put("sticky-owner-rmdir", "%s",
	    ase(as(&U, U_RMDIR, "st/ud", NULL, 0, 0)));
	put("sticky-root-unlink", "%s", en(ERR(unlink("st/b"))));
	mkdirown("st2", 01777, 1001, 1001);
	mkown("st2/a", 0644, 1000, 1000);
	put("sticky-dir-owner-unlink", "%s",
	    ase(as(&V, U_UNLINK, "st2/a", NULL, 0, 0)));
	mkdirown("st3", 01775, 0, 1000);
	mkown("st3/r", 0644, 0, 0);
	put("sticky-group-writable-dir-unlink-other", "%s",
	    ase(as(&U, U_UNLINK, "st3/r", NULL, 0, 0)));
}

static void check_xattr(void)
{
	static char big[70000];
	char buf[8192], name[300];
	ssize_t n;
	int fd, r;

	mkdir("x", 0755);
	mkstr("x/f", "x", 0644);
	put("xattr-set", "%s",
	    en(ERR(setxattr("x/f", "user.a", "hello", 5, 0))));
	n = getxattr("x/f", "user.a", buf, sizeof(buf));
	put("xattr-get", "n=%zd equal=%s",
	    n, yesno(n == 5 && !memcmp(buf, "hello", 5)));
	put("xattr-get-size-query", "%zd", getxattr("x/f", "user.a", NULL, 0));
	put("xattr-get-small-buffer", "%s",
	    en(ERR(getxattr("x/f", "user.a", buf, 2))));
	put("xattr-create-existing", "%s",
	    en(ERR(setxattr("x/f", "user.a", "x", 1, XATTR_CREATE))));
	put("xattr-replace-existing", "%s",
	    en(ERR(setxattr("x/f", "user.a", "world", 5, XATTR_REPLACE))));
	n = getxattr("x/f", "user.a", buf, sizeof(buf));
	put("xattr-replace-result", "equal=%s",
	    yesno(n == 5 && !memcmp(buf, "world", 5)));
	put("xattr-replace-missing", "%s",
	    en(ERR(setxattr("x/f", "user.b", "x", 1, XATTR_REPLACE))));
	put("xattr-create-new", "%s",
	    en(ERR(setxattr("x/f", "user.b", "x", 1, XATTR_CREATE))));
	r = ERR(setxattr("x/f", "user.empty", "", 0, 0));
	put("xattr-empty-value", "%s size=%zd",
	    en(r), getxattr("x/f", "user.empty", buf, sizeof(buf)));
	{
		char *p, *sorted[16];
		int i, j, k = 0;

		n = listxattr("x/f", buf, sizeof(buf));
		for (p = buf; n > 0 && p < buf + n && k < 16; p += strlen(p) + 1)
			sorted[k++] = p;
		for (i = 0; i < k; i++)
			for (j = i + 1; j < k; j++)
				if (strcmp(sorted[i], sorted[j]) > 0) {
					p = sorted[i];
					sorted[i] = sorted[j];
					sorted[j] = p;
				}
		name[0] = 0;
		for (i = 0; i < k; i++)
			snprintf(name + strlen(name), sizeof(name) - strlen(name),
				 "%s%s", i ? "," : "", sorted[i]);
		put("xattr-list", "%s", name);
		put("xattr-list-size-query", "%s",
		    listxattr("x/f", NULL, 0) == n ? "matches" : "differs");
		put("xattr-list-small-buffer", "%s",
		    en(ERR(listxattr("x/f", buf, 3))));
	}
	put("xattr-get-missing", "%s",
	    en(ERR(getxattr("x/f", "user.missing", buf, sizeof(buf)))));
	put("xattr-remove", "%s", en(ERR(removexattr("x/f", "user.b"))));
	put("xattr-get-removed", "%s",
	    en(ERR(getxattr("x/f", "user.b", buf, sizeof(buf)))));
	put("xattr-remove-missing", "%s",
	    en(ERR(removexattr("x/f", "user.b"))));
	memset(big, 'v', sizeof(big));
	put("xattr-value-4000", "%s",
	    en(ERR(setxattr("x/f", "user.big", big, 4000, 0))));
	n = getxattr("x/f", "user.big", buf, sizeof(buf));
	put("xattr-value-4000-get", "n=%zd equal=%s",
	    n, yesno(n == 4000 && all(buf, 'v', n)));
	removexattr("x/f", "user.big");
	put("xattr-value-5000", "%s",
	    en(ERR(setxattr("x/f", "user.big", big, 5000, 0))));
	put("xattr-value-70000", "%s",
	    en(ERR(setxattr("x/f", "user.big", big, 70000, 0))));
	memset(name, 'n', sizeof(name));
	memcpy(name, "user.", 5);
	name[255] = 0;
	put("xattr-name-255", "%s", en(ERR(setxattr("x/f", name, "x", 1, 0))));
	put("xattr-name-255-get", "%zd",
	    getxattr("x/f", name, buf, sizeof(buf)));
	removexattr("x/f", name);
	name[255] = 'n';
	name[256] = 0;
	put("xattr-name-256", "%s", en(ERR(setxattr("x/f", name, "x", 1, 0))));
	put("xattr-name-empty-suffix", "%s",
	    en(ERR(setxattr("x/f", "user.", "x", 1, 0))));
	put("xattr-name-empty", "%s", en(ERR(setxattr("x/f", "", "x", 1, 0))));
	put("xattr-unknown-namespace", "%s",
	    en(ERR(setxattr("x/f", "foo.bar", "x", 1, 0))));
	put("xattr-unknown-namespace-get", "%s",
	    en(ERR(getxattr("x/f", "foo.bar", buf, sizeof(buf)))));
	put("xattr-no-namespace", "%s",
	    en(ERR(setxattr("x/f", "plain", "x", 1, 0))));
	put("xattr-bad-flags", "%s",
	    en(ERR(setxattr("x/f", "user.c", "x", 1, 4))));
	mkdir("x/d", 0755);
	put("xattr-dir", "%s", en(ERR(setxattr("x/d", "user.a", "d", 1, 0))));
	symlink("f", "x/l");
	put("xattr-user-on-symlink", "%s",
	    en(ERR(lsetxattr("x/l", "user.a", "l", 1, 0))));
	put("xattr-trusted-on-symlink", "%s",
	    en(ERR(lsetxattr("x/l", "trusted.a", "l", 1, 0))));
	put("xattr-follow-symlink", "%s",
	    en(ERR(setxattr("x/l", "user.viasym", "l", 1, 0))));
	put("xattr-follow-symlink-result", "%zd",
	    getxattr("x/f", "user.viasym", buf, sizeof(buf)));
	mkfifo("x/fifo", 0666);
	put("xattr-user-on-fifo", "%s",
	    en(ERR(setxattr("x/fifo", "user.a", "f", 1, 0))));
	put("xattr-trusted-root", "%s",
	    en(ERR(setxattr("x/f", "trusted.t", "t", 1, 0))));
	put("xattr-security-root", "%s",
	    en(ERR(setxattr("x/f", "security.s", "s", 1, 0))));
	put("xattr-system-unknown", "%s",
	    en(ERR(setxattr("x/f", "system.foo", "s", 1, 0))));

	chmod("x/f", 0644);
	mkown("x/uf", 0644, 1000, 1000);
	setxattr("x/uf", "trusted.t", "t", 1, 0);
	setxattr("x/uf", "user.u", "u", 1, 0);
	put("xattr-set-as-non-owner-no-write", "%s",
	    ase(as(&U, U_SETXATTR, "x/f", "user.u", 0, 0)));
	put("xattr-remove-as-non-owner-no-write", "%s",
	    ase(as(&U, U_REMOVEXATTR, "x/f", "user.a", 0, 0)));
	put("xattr-get-as-other-readable", "%s",
	    ase(as(&U, U_GETXATTR, "x/f", "user.a", 0, 0)));
	put("xattr-trusted-as-user", "%s",
	    ase(as(&U, U_SETXATTR, "x/uf", "trusted.u", 0, 0)));
	put("xattr-trusted-get-as-user", "%s",
	    ase(as(&U, U_GETXATTR, "x/uf", "trusted.t", 0, 0)));
	put("xattr-set-as-owner", "%s",
	    ase(as(&U, U_SETXATTR, "x/uf", "user.v", 0, 0)));
	chmod("x/uf", 0444);
	put("xattr-set-as-owner-no-write", "%s",
	    ase(as(&U, U_SETXATTR, "x/uf", "user.w", 0, 0)));
	put("xattr-list-as-user", "%s",
	    ase(as(&U, U_LISTXATTR, "x/uf", NULL, 0, 0)));
	{
		/* the names as one sorted comma-separated string */
		char *p, *q, out[512] = "";
		const char *order[] = { "trusted.t", "user.u", "user.v", "user.w" };
		unsigned i;
		int found;

		for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
			found = 0;
			for (p = as_out; *p; p = q + 1) {
				q = p + strlen(p);
				if (!strcmp(p, order[i]))
					found = 1;
			}
			if (found)
				snprintf(out + strlen(out), sizeof(out) - strlen(out),
					 "%s%s", out[0] ? "," : "", order[i]);
		}
		put("xattr-list-as-user-names", "%s", out);
	}
	mkown("x/u600", 0600, 0, 0);
	setxattr("x/u600", "user.a", "a", 1, 0);
	put("xattr-get-as-other-not-readable", "%s",
	    ase(as(&U, U_GETXATTR, "x/u600", "user.a", 0, 0)));
	put("xattr-list-as-other-not-readable", "%s",
	    ase(as(&U, U_LISTXATTR, "x/u600", NULL, 0, 0)));

	mkstr("x/gone", "g", 0644);
	fd = open("x/gone", O_RDWR);
	if (!must(fd, "x/gone")) {
		unlink("x/gone");
		put("xattr-fset-unlinked-open-file", "%s",
		    en(ERR(fsetxattr(fd, "user.g", "g", 1, 0))));
		put("xattr-fget-unlinked-open-file", "%zd",
		    fgetxattr(fd, "user.g", buf, sizeof(buf)));
		close(fd);
	}
}

/*
 * Close and remove a file that filled the filesystem, and wait until its
 * space is free again.  The kernel sends a FUSE server the file's RELEASE
 * in the background, and libfuse's high-level API keeps an open file
 * under a hidden name until then: without waiting, the next checks may
 * find the filesystem full.
 */
static void wait_space_back(int fd, const char *path)
{
	struct statvfs full, now;
	int tries;

	if (statvfs(".", &full))
		full.f_bfree = 0;
	close(fd);
	unlink(path);
	for (tries = 0; tries < 200; tries++) {
		if (statvfs(".", &now) || now.f_bfree > full.f_bfree)
			return;
		usleep(50 * 1000);
	}
}

static void check_fallocate(void)
{
	static char buf[MIB + 65536];
	struct stat st;
	int fd, r;

	mkdir("fa", 0755);
	fd = open("fa/def", O_RDWR | O_CREAT, 0644);
	if (must(fd, "fa/def"))
		return;
	put("fallocate-default", "%s", en(ERR(fallocate(fd, 0, 0, MIB))));
	fstat(fd, &st);
	put("fallocate-default-result", "size=%lld blocks=%lld zeros=%s",
	    (long long) st.st_size, (long long) st.st_blocks,
	    yesno(pread(fd, buf, MIB, 0) == MIB && all(buf, 0, MIB)));
	put("fallocate-default-unaligned", "%s",
	    en(ERR(fallocate(fd, 0, MIB + 10, 100))));
	fstat(fd, &st);
	put("fallocate-default-unaligned-result", "size=%lld blocks=%lld",
	    (long long) st.st_size, (long long) st.st_blocks);
	close(fd);

	fd = open("fa/keep", O_RDWR | O_CREAT, 0644);
	if (must(fd, "fa/keep"))
		return;
	put("fallocate-keep-size", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, MIB))));
	fstat(fd, &st);
	put("fallocate-keep-size-result", "size=%lld blocks=%lld",
	    (long long) st.st_size, (long long) st.st_blocks);
	pwrite(fd, "abc", 3, 0);
	fstat(fd, &st);
	put("fallocate-keep-size-then-write", "size=%lld blocks=%lld",
	    (long long) st.st_size, (long long) st.st_blocks);
	close(fd);

	/* punch and zero in a file of 'A's */
	memset(buf, 'A', MIB);
	mkfile("fa/punch", buf, MIB, 0644);
	fd = open("fa/punch", O_RDWR);
	if (must(fd, "fa/punch"))
		return;
	fsync(fd);
	put("fallocate-punch-hole", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 262144, 262144))));
	fstat(fd, &st);
	pread(fd, buf, MIB, 0);
	put("fallocate-punch-hole-result", "size=%lld blocks=%lld before=%s hole=%s after=%s",
	    (long long) st.st_size, (long long) st.st_blocks, yesno(all(buf, 'A', 262144)),
	    yesno(all(buf + 262144, 0, 262144)), yesno(all(buf + 524288, 'A', 524288)));
	put("fallocate-punch-hole-unaligned", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 600000, 1000))));
	fstat(fd, &st);
	pread(fd, buf, MIB, 0);
	put("fallocate-punch-hole-unaligned-result", "blocks=%lld hole=%s around=%s",
	    (long long) st.st_blocks, yesno(all(buf + 600000, 0, 1000)),
	    yesno(all(buf + 524288, 'A', 600000 - 524288) &&
	       all(buf + 601000, 'A', MIB - 601000)));
	put("fallocate-punch-hole-without-keep-size", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096))));
	r = ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MIB - 4096, MIB));
	put("fallocate-punch-hole-beyond-eof", "%s size=%lld",
	    en(r), (long long) size_of("fa/punch"));
	put("fallocate-zero-range", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_ZERO_RANGE, 100000, 50000))));
	fstat(fd, &st);
	pread(fd, buf, MIB, 0);
	put("fallocate-zero-range-result", "size=%lld zeros=%s before=%s",
	    (long long) st.st_size, yesno(all(buf + 100000, 0, 50000)),
	    yesno(all(buf, 'A', 100000)));
	put("fallocate-zero-range-beyond-eof", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_ZERO_RANGE, MIB - 100, 200000))));
	put("fallocate-zero-range-beyond-eof-result", "size=%lld",
	    (long long) size_of("fa/punch"));
	put("fallocate-zero-range-keep-size", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, MIB, 500000))));
	put("fallocate-zero-range-keep-size-result", "size=%lld",
	    (long long) size_of("fa/punch"));
	put("fallocate-zero-length", "%s", en(ERR(fallocate(fd, 0, 0, 0))));
	put("fallocate-negative-offset", "%s",
	    en(ERR(fallocate(fd, 0, -1, 4096))));
	put("fallocate-beyond-max", "%s",
	    en(ERR(fallocate(fd, 0, EXT4_MAXBYTES, 4096))));
	put("fallocate-unshare", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_UNSHARE_RANGE, 0, 4096))));
	put("fallocate-unknown-mode", "%s",
	    en(ERR(fallocate(fd, 0x4000, 0, 4096))));
	close(fd);
	/* what a failed fallocate allocated stays: use a file to remove */
	fd = open("fa/enospc", O_RDWR | O_CREAT, 0644);
	if (!must(fd, "fa/enospc")) {
		put("fallocate-enospc", "%s",
		    en(ERR(fallocate(fd, 0, 0, 200LL * MIB))));
		put("fallocate-enospc-size", "%s",
		    size_of("fa/enospc") ? "grown" : "0");
		wait_space_back(fd, "fa/enospc");
	}

	/* collapse and insert shift the data after the range */
	memset(buf, 'a', 4096);
	memset(buf + 4096, 'b', 4096);
	memset(buf + 8192, 'c', 4096);
	memset(buf + 12288, 'd', 4096);
	mkfile("fa/shift", buf, 16384, 0644);
	fd = open("fa/shift", O_RDWR);
	if (must(fd, "fa/shift"))
		return;
	put("fallocate-collapse-range", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 4096, 4096))));
	memset(buf, 0, 16384);
	put("fallocate-collapse-range-result", "size=%lld content-shifted=%s",
	    (long long) size_of("fa/shift"),
	    yesno(pread(fd, buf, 16384, 0) == 12288 && all(buf, 'a', 4096) &&
	       all(buf + 4096, 'c', 4096)));
	put("fallocate-collapse-range-unaligned", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 100, 4096))));
	put("fallocate-insert-range", "%s",
	    en(ERR(fallocate(fd, FALLOC_FL_INSERT_RANGE, 4096, 4096))));
	memset(buf, 1, 16384);
	put("fallocate-insert-range-result", "size=%lld hole=%s",
	    (long long) size_of("fa/shift"),
	    yesno(pread(fd, buf, 16384, 0) == 16384 && all(buf + 4096, 0, 4096) &&
	       all(buf + 8192, 'c', 4096)));
	close(fd);

	fd = open("fa/shift", O_RDONLY);
	if (!must(fd, "fa/shift")) {
		put("fallocate-rdonly-fd", "%s",
		    en(ERR(fallocate(fd, 0, 0, 4096))));
		close(fd);
	}
	fd = open("fa/shift", O_WRONLY | O_APPEND);
	if (!must(fd, "fa/shift")) {
		put("fallocate-append-fd-keep-size", "%s",
		    en(ERR(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096))));
		put("fallocate-append-fd-punch", "%s",
		    en(ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096))));
		close(fd);
	}
	mkfifo("fa/fifo", 0644);
	fd = open("fa/fifo", O_RDWR);
	if (!must(fd, "fa/fifo")) {
		put("fallocate-fifo", "%s", en(ERR(fallocate(fd, 0, 0, 4096))));
		close(fd);
	}
}

static const char *seek(int fd, off_t off, int whence)
{
	static char s[32];
	off_t r = lseek(fd, off, whence);

	if (r < 0)
		return en(errno);
	snprintf(s, sizeof(s), "%lld", (long long) r);
	return s;
}

static void check_seek(void)
{
	static char buf[4096];
	int fd;

	memset(buf, 'D', sizeof(buf));
	fd = open("sparse", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "sparse"))
		return;
	pwrite(fd, buf, 4096, 0);
	pwrite(fd, buf, 4096, MIB);
	ftruncate(fd, 2 * MIB);
	fsync(fd);
	put("seek-data-0", "%s", seek(fd, 0, SEEK_DATA));
	put("seek-hole-0", "%s", seek(fd, 0, SEEK_HOLE));
	put("seek-data-in-hole", "%s", seek(fd, 8192, SEEK_DATA));
	put("seek-hole-in-data", "%s", seek(fd, MIB + 100, SEEK_HOLE));
	put("seek-data-after-last-data", "%s", seek(fd, MIB + 4096, SEEK_DATA));
	put("seek-hole-after-last-data", "%s", seek(fd, MIB + 4096, SEEK_HOLE));
	put("seek-data-at-eof", "%s", seek(fd, 2 * MIB, SEEK_DATA));
	put("seek-hole-at-eof", "%s", seek(fd, 2 * MIB, SEEK_HOLE));
	put("seek-hole-beyond-eof", "%s", seek(fd, 3 * MIB, SEEK_HOLE));
	put("seek-data-negative", "%s", seek(fd, -1, SEEK_DATA));
	close(fd);

	/* data not yet written back */
	fd = open("sparse2", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "sparse2"))
		return;
	pwrite(fd, buf, 4096, 65536);
	put("seek-data-unsynced", "%s", seek(fd, 0, SEEK_DATA));
	put("seek-hole-unsynced", "%s", seek(fd, 65536, SEEK_HOLE));
	close(fd);

	/* preallocated (unwritten) space reads as zeros: a hole */
	fd = open("prealloc", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "prealloc"))
		return;
	fallocate(fd, 0, 0, MIB);
	pwrite(fd, buf, 4096, 512 * 1024);
	fsync(fd);
	put("seek-data-unwritten", "%s", seek(fd, 0, SEEK_DATA));
	put("seek-hole-unwritten", "%s", seek(fd, 512 * 1024, SEEK_HOLE));
	close(fd);

	fd = open("empty", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "empty"))
		return;
	put("seek-data-empty-file", "%s", seek(fd, 0, SEEK_DATA));
	put("seek-hole-empty-file", "%s", seek(fd, 0, SEEK_HOLE));
	close(fd);
}

static void check_statfs(void)
{
	static char buf[MIB];
	struct statfs b, a;
	int fd;

	if (must(statfs(".", &b), "statfs"))
		return;
	put("statfs-bsize", "%ld", (long) b.f_bsize);
	put("statfs-frsize", "%ld", (long) b.f_frsize);
	put("statfs-namelen", "%ld", (long) b.f_namelen);
	put("statfs-type", "%lx", (unsigned long) b.f_type);
	put("statfs-blocks", "%llu", (unsigned long long) b.f_blocks);
	put("statfs-files", "%llu", (unsigned long long) b.f_files);
	put("statfs-free-le-total", "%s",
	    yesno(b.f_bfree <= b.f_blocks && b.f_bfree > 0));
	put("statfs-avail-le-free", "%s", yesno(b.f_bavail <= b.f_bfree));
	put("statfs-ffree-le-files", "%s",
	    yesno(b.f_ffree <= b.f_files && b.f_ffree > 0));
	put("statfs-reserved-blocks", "%llu",
	    (unsigned long long) (b.f_bfree - b.f_bavail));
	memset(buf, 's', sizeof(buf));
	mkfile("statfs-file", buf, MIB, 0644);
	fd = open("statfs-file", O_RDONLY);
	fsync(fd);
	close(fd);
	statfs(".", &a);
	put("statfs-write-1m", "bfree-delta=%lld",
	    (long long) a.f_bfree - (long long) b.f_bfree);
	put("statfs-create-file", "ffree-delta=%lld",
	    (long long) a.f_ffree - (long long) b.f_ffree);
	unlink("statfs-file");
	sync();
	statfs(".", &a);
	put("statfs-unlink-1m", "bfree-delta=%lld ffree-delta=%lld",
	    (long long) a.f_bfree - (long long) b.f_bfree,
	    (long long) a.f_ffree - (long long) b.f_ffree);
}

static int cmpname(const void *a, const void *b)
{
	return strcmp(*(char * const *) a, *(char * const *) b);
}

static void check_readdir(void)
{
	static char seen[1000];
	char name[64], first[256];
	struct dirent *de;
	int i, n, dots, bad, dtype, missing, fd;
	long pos;
	DIR *d;

	mkdir("big", 0755);
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "big/f%04d", i);
		fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			must(-1, name);
			break;
		}
		close(fd);
	}
	d = opendir("big");
	if (!d) {
		must(-1, "big");
		return;
	}
	n = dots = bad = dtype = 0;
	memset(seen, 0, sizeof(seen));
	while ((de = readdir(d)) != NULL) {
		n++;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			dots++;
			continue;
		}
		if (sscanf(de->d_name, "f%4d", &i) != 1 || i < 0 || i >= 1000 ||
		    strlen(de->d_name) != 5 || seen[i]++)
			bad++;
		if (de->d_type != DT_REG)
			dtype++;
	}
	missing = 0;
	for (i = 0; i < 1000; i++)
		missing += !seen[i];
	put("readdir-1000", "entries=%d dots=%d bad-or-repeated=%d missing=%d wrong-dtype=%d",
	    n, dots, bad, missing, dtype);
	rewinddir(d);
	n = 0;
	while ((de = readdir(d)) != NULL)
		n++;
	put("readdir-rewind", "entries=%d", n);

	/* telldir/seekdir: the entry after a remembered position again */
	rewinddir(d);
	for (i = 0; i < 300; i++)
		readdir(d);
	pos = telldir(d);
	de = readdir(d);
	snprintf(first, sizeof(first), "%s", de ? de->d_name : "(end)");
	for (i = 0; i < 100; i++)
		readdir(d);
	seekdir(d, pos);
	de = readdir(d);
	put("readdir-seekdir", "same-entry=%s",
	    yesno(de && !strcmp(de->d_name, first)));
	closedir(d);

	for (i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "big/f%04d", i);
		unlink(name);
	}
	d = opendir("big");
	n = bad = 0;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (sscanf(de->d_name, "f%4d", &i) != 1 || i % 2 == 0)
			bad++;
	}
	if (d)
		closedir(d);
	put("readdir-after-unlinking-half", "names=%d wrong=%d", n, bad);

	/* d_type of each kind of file */
	mkdir("dt", 0755);
	mkstr("dt/a-file", "", 0644);
	mkdir("dt/b-dir", 0755);
	symlink("x", "dt/c-symlink");
	mkfifo("dt/d-fifo", 0644);
	mknod("dt/e-chr", S_IFCHR | 0644, makedev(1, 3));
	mknod("dt/f-blk", S_IFBLK | 0644, makedev(7, 0));
	mknod("dt/g-sock", S_IFSOCK | 0644, 0);
	{
		char *names[16], out[512] = "";
		int k = 0, j;

		d = opendir("dt");
		while (d && (de = readdir(d)) != NULL && k < 16) {
			if (de->d_name[0] == '.')
				continue;
			names[k] = malloc(300);
			snprintf(names[k++], 300, "%s=%d", de->d_name, de->d_type);
		}
		if (d)
			closedir(d);
		qsort(names, k, sizeof(names[0]), cmpname);
		for (j = 0; j < k; j++) {
			snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s",
				 j ? " " : "", names[j]);
			free(names[j]);
		}
		put("readdir-dtypes", "%s", out);
	}
}

static void check_names(void)
{
	char n255[300], n256[300], path[5000], buf[300];
	struct dirent *de;
	int found = 0;
	DIR *d;

	mkdir("nm", 0755);
	memset(n255, 'a', sizeof(n255));
	n255[0] = 'n';
	n255[1] = 'm';
	n255[2] = '/';
	memcpy(n256, n255, sizeof(n256));
	n255[3 + 255] = 0;
	n256[3 + 256] = 0;
	put("name-255-create", "%s",
	    en(try_open(n255, O_WRONLY | O_CREAT, 0644)));
	put("name-255-stat", "%s", en(ERR(access(n255, F_OK))));
	d = opendir("nm");
	while (d && (de = readdir(d)) != NULL)
		if (strlen(de->d_name) == 255)
			found++;
	if (d)
		closedir(d);
	put("name-255-readdir", "found=%d", found);
	put("name-256-create", "%s",
	    en(try_open(n256, O_WRONLY | O_CREAT, 0644)));
	put("name-256-stat", "%s", en(ERR(access(n256, F_OK))));
	put("name-256-mkdir", "%s", en(ERR(mkdir(n256, 0755))));
	put("name-256-symlink", "%s", en(ERR(symlink("x", n256))));
	put("name-256-mknod", "%s", en(ERR(mknod(n256, S_IFIFO | 0644, 0))));
	put("name-256-link", "%s", en(ERR(link(n255, n256))));
	put("name-256-rename", "%s", en(ERR(rename(n255, n256))));
	put("name-256-unlink", "%s", en(ERR(unlink(n256))));
	put("name-255-rename", "%s", en(ERR(rename(n255, "nm/short"))));
	put("name-255-rename-back", "%s", en(ERR(rename("nm/short", n255))));
	/* the kernel's ext4 keeps any byte but '/' and NUL */
	put("name-odd-bytes", "%s",
	    en(try_open("nm/\xff\x01\n\t x", O_WRONLY | O_CREAT, 0644)));
	found = 0;
	d = opendir("nm");
	while (d && (de = readdir(d)) != NULL)
		if (!strcmp(de->d_name, "\xff\x01\n\t x"))
			found++;
	if (d)
		closedir(d);
	put("name-odd-bytes-readdir", "found=%d", found);
	/* a path longer than PATH_MAX */
	memset(path, 'p', sizeof(path));
	path[4500] = 0;
	put("path-too-long", "%s", en(ERR(access(path, F_OK))));
	snprintf(buf, sizeof(buf), "nm/%s", ".");
	put("name-dot-create", "%s",
	    en(try_open(buf, O_WRONLY | O_CREAT | O_EXCL, 0644)));
}

static void check_sync(void)
{
	int fd, dfd;

	mkstr("sy", "sync me", 0644);
	fd = open("sy", O_RDWR);
	if (must(fd, "sy"))
		return;
	pwrite(fd, "S", 1, 0);
	put("fsync", "%s", en(ERR(fsync(fd))));
	pwrite(fd, "S", 1, 1);
	put("fdatasync", "%s", en(ERR(fdatasync(fd))));
	pwrite(fd, "S", 1, 2);
	put("sync-file-range", "%s",
	    en(ERR(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
				   SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER))));
	put("syncfs", "%s", en(ERR(syncfs(fd))));
	close(fd);
	fd = open("sy", O_RDONLY);
	put("fsync-rdonly-fd", "%s", en(ERR(fsync(fd))));
	close(fd);
	dfd = open(".", O_RDONLY | O_DIRECTORY);
	put("fsync-dir", "%s", en(ERR(fsync(dfd))));
	put("fdatasync-dir", "%s", en(ERR(fdatasync(dfd))));
	close(dfd);
}

static void check_direct(void)
{
	char *buf, *back;
	int fd, fd2, i;
	ssize_t n;

	if (posix_memalign((void **) &buf, 4096, MIB + 4096) ||
	    posix_memalign((void **) &back, 4096, MIB)) {
		must(-1, "posix_memalign");
		return;
	}
	for (i = 0; i < MIB; i++)
		buf[i] = i * 7 + i / 4096;
	fd = open("direct", O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	put("odirect-open", "%s", en(fd < 0 ? errno : 0));
	if (fd < 0)
		return;
	put("odirect-write-1m", "%zd", pwrite(fd, buf, MIB, 0));
	memset(back, 0, MIB);
	n = pread(fd, back, MIB, 0);
	put("odirect-read-1m", "n=%zd equal=%s",
	    n, yesno(n == MIB && !memcmp(buf, back, MIB)));
	n = pread(fd, back, 4096, MIB);
	put("odirect-read-at-eof", "%zd", n);
	fd2 = open("direct", O_RDONLY);
	n = pread(fd2, back, MIB, 0);
	put("odirect-buffered-read-back", "n=%zd equal=%s", n,
	    yesno(n == MIB && !memcmp(buf, back, MIB)));
	close(fd2);
	put("odirect-write-misaligned-buffer", "%s",
	    en(ERR(pwrite(fd, buf + 1, 4096, 0))));
	put("odirect-write-misaligned-offset", "%s",
	    en(ERR(pwrite(fd, buf, 4096, 1))));
	put("odirect-write-misaligned-length", "%s",
	    en(ERR(pwrite(fd, buf, 100, 0))));
	close(fd);
	free(buf);
	free(back);
}

static void check_mmap(void)
{
	static char buf[65536];
	char *p;
	int fd, i;

	fd = open("mm", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "mm"))
		return;
	ftruncate(fd, 65536);
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	put("mmap-shared", "%s", en(p == MAP_FAILED ? errno : 0));
	if (p == MAP_FAILED) {
		close(fd);
		return;
	}
	for (i = 0; i < 65536; i++)
		p[i] = 'a' + i % 26;
	put("munmap", "%s", en(ERR(munmap(p, 65536))));
	close(fd);
	i = slurp("mm", buf, sizeof(buf));
	put("mmap-write-read-back", "n=%d equal=%s", i,
	    yesno(i == 65536 && buf[0] == 'a' && buf[65535] == 'a' + 65535 % 26 &&
	       buf[30000] == 'a' + 30000 % 26));
	put("mmap-write-size", "%lld", (long long) size_of("mm"));

	fd = open("mm", O_RDWR);
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p != MAP_FAILED) {
		memset(p, 'P', 65536);
		munmap(p, 65536);
	}
	close(fd);
	put("mmap-private-write-invisible", "%s",
	    yesno(slurp("mm", buf, sizeof(buf)) == 65536 && buf[0] == 'a'));
	fd = open("mm", O_RDONLY);
	p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	put("mmap-shared-write-on-rdonly-fd", "%s",
	    en(p == MAP_FAILED ? errno : 0));
	if (p != MAP_FAILED)
		munmap(p, 65536);
	close(fd);
}

static void check_tmpfile(void)
{
	char path[64];
	struct stat st;
	int fd;

	mkdir("tmp", 0755);
	fd = open("tmp", O_TMPFILE | O_RDWR, 0600);
	put("o-tmpfile", "%s", en(fd < 0 ? errno : 0));
	if (fd < 0) {
		put("o-tmpfile-fstat", "no O_TMPFILE");
		put("o-tmpfile-linkat", "no O_TMPFILE");
		put("o-tmpfile-linked", "no O_TMPFILE");
		put("o-tmpfile-excl-linkat", "no O_TMPFILE");
		return;
	}
	pwrite(fd, "tmp data", 8, 0);
	fstat(fd, &st);
	put("o-tmpfile-fstat", "nlink=%ld size=%lld mode=%04o", (long) st.st_nlink,
	    (long long) st.st_size, (unsigned) st.st_mode & 07777);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	put("o-tmpfile-linkat", "%s",
	    en(ERR(linkat(AT_FDCWD, path, AT_FDCWD, "tmp/named", AT_SYMLINK_FOLLOW))));
	put("o-tmpfile-linked", "nlink=%ld content=%s", (long) st_of("tmp/named").st_nlink,
	    yesno(is("tmp/named", "tmp data")));
	close(fd);
	fd = open("tmp", O_TMPFILE | O_RDWR | O_EXCL, 0600);
	if (fd < 0) {
		put("o-tmpfile-excl-linkat", "open: %s", en(errno));
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	put("o-tmpfile-excl-linkat", "%s",
	    en(ERR(linkat(AT_FDCWD, path, AT_FDCWD, "tmp/named2", AT_SYMLINK_FOLLOW))));
	close(fd);
}

static void check_locks(void)
{
	struct flock fl;
	int fd, fd2, st;
	pid_t pid;

	mkstr("lk", "lock", 0644);
	fd = open("lk", O_RDWR);
	if (must(fd, "lk"))
		return;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 10;
	put("posix-lock", "%s", en(ERR(fcntl(fd, F_SETLK, &fl))));
	put("flock", "%s", en(ERR(flock(fd, LOCK_EX))));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int r1, r2, r3;

		fd2 = open("lk", O_RDWR);
		r1 = ERR(fcntl(fd2, F_SETLK, &fl));
		r2 = ERR(flock(fd2, LOCK_EX | LOCK_NB));
		fl.l_type = F_WRLCK;
		fcntl(fd2, F_GETLK, &fl);
		r3 = fl.l_type == F_WRLCK && fl.l_pid == getppid();
		_exit((r1 == EAGAIN) | (r2 == EWOULDBLOCK) << 1 | r3 << 2);
	}
	waitpid(pid, &st, 0);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
	put("posix-lock-conflict", "%s", (st & 1) ? "EAGAIN" : "no conflict");
	put("flock-conflict", "%s", (st & 2) ? "EWOULDBLOCK" : "no conflict");
	put("posix-lock-getlk-owner", "%s", yesno(st & 4));
	close(fd);
}

/* the checks that need an inode flag which could not be set */
static void not_set(const char *check, ...)
{
	va_list ap;

	va_start(ap, check);
	for (; check; check = va_arg(ap, const char *))
		put(check, "flag not set");
	va_end(ap);
}

static void check_misc(void)
{
	struct fiemap *fm;
	struct statx sx;
	struct stat st;
	int fd, flags, oflags, r;

	mkstr("misc", "x", 0644);
	fd = open("misc", O_RDWR);
	if (must(fd, "misc"))
		return;
	fsync(fd);
	fstat(fd, &st);
	put("stat-1-byte-file", "size=%lld blocks=%lld blksize=%ld nlink=%ld",
	    (long long) st.st_size, (long long) st.st_blocks, (long) st.st_blksize,
	    (long) st.st_nlink);
	put("stat-owner", "uid=%d gid=%d", (int) st.st_uid, (int) st.st_gid);
	memset(&sx, 0, sizeof(sx));
	r = statx(AT_FDCWD, "misc", 0, STATX_BASIC_STATS | STATX_BTIME, &sx);
	put("statx", "%s", en(r < 0 ? errno : 0));
	put("statx-btime", "%s",
	    (sx.stx_mask & STATX_BTIME) ? "present" : "absent");
	put("statx-btime-le-ctime", "%s",
	    yesno(!(sx.stx_mask & STATX_BTIME) ||
	       sx.stx_btime.tv_sec < sx.stx_ctime.tv_sec ||
	       (sx.stx_btime.tv_sec == sx.stx_ctime.tv_sec &&
		sx.stx_btime.tv_nsec <= sx.stx_ctime.tv_nsec)));

	fm = calloc(1, sizeof(*fm) + 4 * sizeof(struct fiemap_extent));
	fm->fm_length = ~0ULL;
	fm->fm_extent_count = 4;
	fm->fm_flags = FIEMAP_FLAG_SYNC;
	r = ioctl(fd, FS_IOC_FIEMAP, fm);
	put("fiemap", "%s extents=%u",
	    en(r < 0 ? errno : 0), r < 0 ? 0 : fm->fm_mapped_extents);
	free(fm);
	r = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	put("getflags", "%s flags=%x",
	    en(r < 0 ? errno : 0), r < 0 ? 0 : flags);

	/* immutable and append-only files (read, modify, write as chattr) */
	oflags = 0;
	ioctl(fd, FS_IOC_GETFLAGS, &oflags);
	flags = oflags | FS_IMMUTABLE_FL;
	r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	put("setflags-immutable", "%s", en(r < 0 ? errno : 0));
	close(fd);
	if (r) {
		not_set("immutable-open-write", "immutable-unlink",
			"immutable-rename", "immutable-link", "immutable-chmod",
			"immutable-setxattr", "immutable-utimes",
			"immutable-read", "setflags-clear", NULL);
	} else {
		put("immutable-open-write", "%s",
		    en(try_open("misc", O_WRONLY, 0)));
		put("immutable-unlink", "%s", en(ERR(unlink("misc"))));
		put("immutable-rename", "%s", en(ERR(rename("misc", "misc2"))));
		put("immutable-link", "%s", en(ERR(link("misc", "misc2"))));
		put("immutable-chmod", "%s", en(ERR(chmod("misc", 0600))));
		put("immutable-setxattr", "%s",
		    en(ERR(setxattr("misc", "user.i", "i", 1, 0))));
		put("immutable-utimes", "%s",
		    en(ERR(utimensat(AT_FDCWD, "misc", NULL, 0))));
		put("immutable-read", "%s", en(try_open("misc", O_RDONLY, 0)));
		fd = open("misc", O_RDONLY);
		flags = oflags;
		put("setflags-clear", "%s",
		    en(ERR(ioctl(fd, FS_IOC_SETFLAGS, &flags))));
		close(fd);
	}
	fd = open("misc", O_RDONLY);
	flags = oflags | FS_APPEND_FL;
	r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	put("setflags-append", "%s", en(r < 0 ? errno : 0));
	close(fd);
	if (r) {
		not_set("append-only-open-write", "append-only-open-append",
			"append-only-truncate", "append-only-unlink",
			"setflags-clear-append", NULL);
	} else {
		put("append-only-open-write", "%s",
		    en(try_open("misc", O_WRONLY, 0)));
		put("append-only-open-append", "%s",
		    en(try_open("misc", O_WRONLY | O_APPEND, 0)));
		put("append-only-truncate", "%s", en(ERR(truncate("misc", 0))));
		put("append-only-unlink", "%s", en(ERR(unlink("misc"))));
		fd = open("misc", O_RDONLY);
		flags = oflags;
		put("setflags-clear-append", "%s",
		    en(ERR(ioctl(fd, FS_IOC_SETFLAGS, &flags))));
		close(fd);
	}
}

/* fill the filesystem: the write that does not fit fails with ENOSPC */
static void check_enospc(void)
{
	static char buf[MIB];
	struct statfs b, a;
	ssize_t n;
	int fd, i;

	sync();
	statfs(".", &b);
	memset(buf, 'F', sizeof(buf));
	fd = open("fill", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (must(fd, "fill"))
		return;
	for (i = 0; i < 200; i++) {
		n = write(fd, buf, sizeof(buf));
		if (n < (ssize_t) sizeof(buf))
			break;
	}
	put("write-until-full", "%s", n < 0 ? en(errno) : "short write");
	put("write-when-full", "%s", en(ERR(write(fd, buf, sizeof(buf)))));
	put("fsync-when-full", "%s", en(ERR(fsync(fd))));
	put("create-when-full", "%s",
	    en(try_open("fill-new", O_WRONLY | O_CREAT, 0644)));
	put("mkdir-when-full", "%s", en(ERR(mkdir("fill-dir", 0755))));
	close(fd);
	unlink("fill");
	unlink("fill-new");
	rmdir("fill-dir");
	sync();
	statfs(".", &a);
	put("space-back-after-unlink", "%s",
	    yesno(a.f_bfree >= b.f_bfree - 16 && a.f_bfree <= b.f_bfree + 16));
}

static const struct section {
	const char *name;
	void (*fn)(void);
} sections[] = {
	{ "open", check_open },
	{ "rw", check_rw },
	{ "truncate", check_truncate },
	{ "unlink-open", check_unlink_open },
	{ "rename", check_rename },
	{ "link", check_link },
	{ "symlink", check_symlink },
	{ "dirs", check_dirs },
	{ "mknod", check_mknod },
	{ "chmod-chown", check_chmod_chown },
	{ "utimes", check_utimes },
	{ "times", check_times },
	{ "perms", check_perms },
	{ "sticky", check_sticky },
	{ "xattr", check_xattr },
	{ "fallocate", check_fallocate },
	{ "seek", check_seek },
	{ "statfs", check_statfs },
	{ "readdir", check_readdir },
	{ "names", check_names },
	{ "sync", check_sync },
	{ "direct", check_direct },
	{ "mmap", check_mmap },
	{ "tmpfile", check_tmpfile },
	{ "locks", check_locks },
	{ "misc", check_misc },
	{ "enospc", check_enospc },
};

/*
 * Each section runs in a process of its own, so that a crash (SIGBUS from
 * a mapping, say) or a hang costs only that section's remaining lines.
 */
int main(int argc, char **argv)
{
	unsigned i;
	pid_t pid;
	int st;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (chdir(argv[1]) < 0) {
		perror(argv[1]);
		return 1;
	}
	umask(022);
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			alarm(20);
			sections[i].fn();
			fflush(stdout);
			_exit(0);
		}
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			put("section-failed", "%s: %s", sections[i].name,
			    WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit status");
	}
	return 0;
}
