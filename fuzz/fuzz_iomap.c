/*
 * libFuzzer target for the iomap engine (lib/support/iomap.c), which
 * answers the kernel's mapping requests in fuse2fs: any sequence of
 * IOMAP_BEGIN (read, write, report, direct, overwrite-only...),
 * IOMAP_END and IOMAP_IOEND requests, with any positions, lengths and
 * flags, on files of every mapping kind, must get an error or a mapping
 * that contains the position asked about and, if it has storage, lies
 * in blocks the file owns - never in metadata or outside the device -
 * and must leave a filesystem e2fsck -fn finds clean (checked for
 * every input: FUZZ_IOMAP_FSCK=1).
 *
 * Each input runs on a fresh copy of an image made at start-up with
 * mke2fs -d: an extent file, a sparse file, a file with unwritten
 * extents, an inline-data file and, in a second image, block-mapped
 * (ext3) files.
 *
 * Known gap, found by this target: on a block-mapped file, a write that
 * allocates past the end of the file and does not complete (the kernel's
 * IOMAP_END with less written than mapped, no completion at all, or a
 * writeback request past EOF, which the kernel does not send) leaves
 * blocks past EOF, and e2fsck then corrects i_size.  ext4 protects such
 * writes with the orphan list; the engine does not yet.  So the ext3
 * image's runs are checked for their mappings and for crashes, and only
 * the extent image's for e2fsck as well (there such blocks stay
 * unwritten extents past EOF, which is valid).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ext2fs/ext2fs.h"
#include "support/iomap.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static int run_fsck;

static void run(const char *cmd)
{
	if (system(cmd)) {
		fprintf(stderr, "fuzz_iomap: %s failed\n", cmd);
		exit(1);
	}
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "fuzz_iomap: could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char cmd[1024];

	(void) argc;
	(void) argv;
	snprintf(dir, sizeof(dir), "/dev/shm/fuzz_iomap.%d", (int) getpid());
	snprintf(cmd, sizeof(cmd),
		 "set -e; mkdir -p %s/src; cd %s/src;"
		 "head -c 200000 /dev/urandom > data;"
		 "truncate -s 3000000 sparse; head -c 5000 /dev/urandom | dd of=sparse bs=1 seek=1000000 conv=notrunc status=none;"
		 "echo small > small;"
		 "cd ..;"
		 "mke2fs -q -F -t ext4 -O inline_data -b 1024 -d src ext4.img 8M;"
		 "mke2fs -q -F -t ext3 -b 4096 -d src ext3.img 8M;"
		 "debugfs -w -R 'fallocate /data 300 500' ext4.img > /dev/null 2>&1",
		 dir, dir);
	run(cmd);
	run_fsck = getenv("FUZZ_IOMAP_FSCK") != NULL;
	atexit(cleanup);
	return 0;
}

static uint64_t get(const uint8_t **p, size_t *n, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t) **p << (8 * i);
	return v;
}

static void check(e2iomap_t im, ext2_filsys fs, uint64_t pos,
		  const struct e2iomap_mapping *m)
{
	blk64_t blk, len;

	if (m->length == 0 || m->offset > pos || m->offset + m->length <= pos)
		abort();	/* does not contain the position */
	if ((m->offset | m->length) & (fs->blocksize - 1))
		abort();	/* not block aligned */
	if (m->type != E2IOMAP_TYPE_MAPPED && m->type != E2IOMAP_TYPE_UNWRITTEN)
		return;
	blk = m->addr / fs->blocksize;
	len = m->length / fs->blocksize;
	if (m->addr % fs->blocksize || e2iomap_check_blocks(im, blk, len))
		abort();	/* storage that is not the file's */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *files[] = { "/data", "/sparse", "/small", "/" };
	struct e2iomap_mapping m;
	char img[128], cmd[512];
	ext2_filsys fs;
	ext2_ino_t ino;
	e2iomap_t im;
	uint64_t pos, count, done;
	__u64 size_out;
	int i;
	uint32_t flags;
	int which, steps = 0;

	if (size < 1)
		return 0;
	which = data[0] & 1;
	data++;
	size--;
	snprintf(img, sizeof(img), "%s/run.img", dir);
	snprintf(cmd, sizeof(cmd), "cp %s/%s %s", dir,
		 which ? "ext3.img" : "ext4.img", img);
	run(cmd);
	if (ext2fs_open(img, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
			unix_io_manager, &fs))
		abort();
	if (ext2fs_read_bitmaps(fs) || e2iomap_open(fs, 0, &im))
		abort();

	while (size >= 2 && steps++ < 64) {
		uint8_t op = get(&data, &size, 1);

		if (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO,
				 files[op >> 6], &ino))
			continue;
		pos = get(&data, &size, (op & 8) ? 8 : 3);
		/* the kernel never asks about nothing */
		count = get(&data, &size, 3) + 1;
		flags = get(&data, &size, 4);
		switch (op & 3) {
		case 0:
		case 1:
			/*
			 * As the kernel's iomap_iter: map, use what the
			 * mapping covers, end it (and complete a direct
			 * write with an ioend), go on with the rest.  A write
			 * that stops short is only tried on extent files (see
			 * "Known gap" at the top).
			 */
			for (i = 0; count && i < 16; i++) {
				if (e2iomap_begin(im, ino, pos, count, flags, &m))
					break;
				check(im, fs, pos, &m);
				done = m.offset + m.length - pos;
				if (done > count)
					done = count;
				if ((op & 4) && !which && !i)
					done /= 2;
				e2iomap_end(im, ino, pos, done, flags,
					    m.flags | E2IOMAP_F_SIZE_CHANGED);
				if ((flags & E2IOMAP_OP_WRITE) &&
				    (flags & E2IOMAP_OP_DIRECT) && done)
					e2iomap_ioend(im, ino, pos, done,
						E2IOMAP_IOEND_DIRECT |
						(m.type == E2IOMAP_TYPE_UNWRITTEN ?
						 E2IOMAP_IOEND_UNWRITTEN : 0),
						&size_out);
				if (!done)
					break;
				pos += done;
				count -= done;
			}
			break;
		case 2:
			e2iomap_ioend(im, ino, pos, count, flags, &size_out);
			break;
		case 3:
			/* an end without a begin: must not hurt either */
			e2iomap_end(im, ino, pos, count, flags,
				    get(&data, &size, 2));
			break;
		}
	}

	e2iomap_close(im);
	if (ext2fs_close_free(&fs))
		abort();
	/* see "Known gap": block-mapped images are not held to e2fsck */
	if (run_fsck && !which) {
		snprintf(cmd, sizeof(cmd), "e2fsck -fn %s > %s/fsck.log 2>&1",
			 img, dir);
		if (system(cmd)) {
			snprintf(cmd, sizeof(cmd), "cat %s/fsck.log >&2", dir);
			run(cmd);
			abort();
		}
	}
	return 0;
}
