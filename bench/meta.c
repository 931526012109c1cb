/*
 * meta - the metadata workload of the benchmarks: create, stat and unlink
 * many small files in one directory, each phase timed on its own.
 *
 *   meta DIR NFILES FILESIZE
 *
 * Create: open(O_CREAT|O_EXCL), write FILESIZE bytes, close, for every file,
 * then syncfs() so the result is on the device (counted in the phase).
 * Stat: stat() every file.  Unlink: unlink() every file, then syncfs().
 * Prints one line of JSON with the seconds each phase took.
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

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "meta: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	char path[4096], *buf;
	double t0, t_create, t_stat, t_unlink;
	long i, nfiles, size;
	struct stat st;
	int dfd, fd;

	if (argc != 4) {
		fprintf(stderr, "usage: meta DIR NFILES FILESIZE\n");
		return 2;
	}
	nfiles = atol(argv[2]);
	size = atol(argv[3]);
	buf = malloc(size ? size : 1);
	if (!buf)
		return 1;
	memset(buf, 0xa5, size);
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		die("open", argv[1]);

	t0 = now();
	for (i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/f%07ld", argv[1], i);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create", path);
		if (size && write(fd, buf, size) != size)
			die("write", path);
		if (close(fd))
			die("close", path);
	}
	if (syncfs(dfd))
		die("syncfs", argv[1]);
	t_create = now() - t0;

	t0 = now();
	for (i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/f%07ld", argv[1], i);
		if (stat(path, &st))
			die("stat", path);
		if (st.st_size != size) {
			fprintf(stderr, "meta: %s: size %lld, expected %ld\n",
				path, (long long)st.st_size, size);
			return 1;
		}
	}
	t_stat = now() - t0;

	t0 = now();
	for (i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "%s/f%07ld", argv[1], i);
		if (unlink(path))
			die("unlink", path);
	}
	if (syncfs(dfd))
		die("syncfs", argv[1]);
	t_unlink = now() - t0;

	printf("{\"files\": %ld, \"file_size\": %ld, \"create_s\": %.6f, "
	       "\"stat_s\": %.6f, \"unlink_s\": %.6f}\n",
	       nfiles, size, t_create, t_stat, t_unlink);
	close(dfd);
	free(buf);
	return 0;
}
