/*
 * ext4meta.c - where an ext4 filesystem keeps its own metadata, so kmodel
 * can refuse mappings that would let file I/O overwrite it (--ext4-meta).
 *
 * Read straight from the device: superblock and group descriptor copies
 * (with sparse_super / sparse_super2 backup placement and reserved GDT
 * blocks), block and inode bitmaps, inode tables, and the journal's
 * extents.  With meta_bg only the first s_first_meta_bg descriptor blocks
 * are known; the rest of that layout is not marked (no false alarms).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "kmodel.h"

static const char *kinds[] = {
	NULL, "superblock or group descriptors", "block bitmap", "inode bitmap",
	"inode table", "journal",
};

#define LE16(p, o)	((uint32_t)(p)[o] | (uint32_t)(p)[(o) + 1] << 8)
#define LE32(p, o)	(LE16(p, o) | LE16(p, (o) + 2) << 16)

static void mark(struct km_meta *mm, uint64_t blk, uint64_t n, uint8_t kind)
{
	for (; n && blk < mm->nblocks; blk++, n--)
		if (!mm->kind[blk])
			mm->kind[blk] = kind;
}

static int is_power(uint64_t g, uint64_t base)
{
	uint64_t p = base;

	while (p < g)
		p *= base;
	return p == g;
}

static int read_block(int fd, const struct km_meta *mm, uint64_t blk, uint8_t *buf)
{
	return pread(fd, buf, mm->bsize, blk * mm->bsize) == (ssize_t)mm->bsize ? 0 : -EIO;
}

/* Leaf extents of an extent tree rooted in i_block (depth <= 2). */
static int mark_extents(int fd, struct km_meta *mm, const uint8_t *node, int depth_left,
			uint8_t kind)
{
	uint32_t i, n = LE16(node, 2), depth = LE16(node, 6);
	uint8_t *buf;
	int r;

	if (LE16(node, 0) != 0xf30a || depth_left < 0)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const uint8_t *e = node + 12 + 12 * i;

		if (depth == 0) {
			uint32_t len = LE16(e, 4);
			uint64_t start = LE32(e, 8) | (uint64_t)LE16(e, 6) << 32;

			mark(mm, start, len > 32768 ? len - 32768 : len, kind);
			continue;
		}
		buf = malloc(mm->bsize);
		if (!buf)
			return -ENOMEM;
		r = read_block(fd, mm, LE32(e, 4) | (uint64_t)LE16(e, 8) << 32, buf);
		if (!r)
			r = mark_extents(fd, mm, buf, depth_left - 1, kind);
		free(buf);
		if (r)
			return r;
	}
	return 0;
}

int km_meta_load(int fd, struct km_meta *mm, char *err, size_t errlen)
{
	uint8_t sb[1024], *gd = NULL, *ino = NULL;
	uint64_t ngroups, g, gstart, gdt_blocks, it_blocks, blk;
	uint32_t bpg, ipg, isize, desc, first, resgdt, compat, incompat, rocompat, fmb;
	int r = -EINVAL;

	memset(mm, 0, sizeof(*mm));
	if (pread(fd, sb, sizeof(sb), 1024) != (ssize_t)sizeof(sb) || LE16(sb, 0x38) != 0xef53) {
		snprintf(err, errlen, "no ext4 superblock on the device");
		return -EINVAL;
	}
	mm->bsize = 1024u << LE32(sb, 0x18);
	compat = LE32(sb, 0x5c);
	incompat = LE32(sb, 0x60);
	rocompat = LE32(sb, 0x64);
	mm->nblocks = LE32(sb, 0x04);
	if (incompat & 0x80)	/* 64bit */
		mm->nblocks |= (uint64_t)LE32(sb, 0x150) << 32;
	bpg = LE32(sb, 0x20);
	ipg = LE32(sb, 0x28);
	first = LE32(sb, 0x14);
	/* revision 0 filesystems have 128-byte inodes and no s_inode_size */
	isize = LE32(sb, 0x4c) ? LE16(sb, 0x58) : 128;
	desc = (incompat & 0x80) ? LE16(sb, 0xfe) : 32;
	resgdt = LE16(sb, 0xce);
	fmb = LE32(sb, 0x104);
	if (mm->bsize > 65536 || !bpg || !ipg || !desc || !isize || mm->nblocks > (1ULL << 28)) {
		snprintf(err, errlen, "ext4 superblock geometry not usable for the check");
		return -EINVAL;
	}
	mm->kind = calloc(mm->nblocks, 1);
	if (!mm->kind) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ngroups = (mm->nblocks - first + bpg - 1) / bpg;
	gdt_blocks = (ngroups * desc + mm->bsize - 1) / mm->bsize;
	it_blocks = ((uint64_t)ipg * isize + mm->bsize - 1) / mm->bsize;
	gd = malloc(gdt_blocks * mm->bsize);
	ino = malloc(mm->bsize);
	if (!gd || !ino)
		goto out;
	if (pread(fd, gd, gdt_blocks * mm->bsize, (first + 1) * (uint64_t)mm->bsize) !=
	    (ssize_t)(gdt_blocks * mm->bsize)) {
		snprintf(err, errlen, "cannot read the group descriptors");
		goto out;
	}
	if (first)
		mark(mm, 0, first, 1);	/* boot block of 1 KiB filesystems */
	for (g = 0; g < ngroups; g++) {
		const uint8_t *d = gd + g * desc;
		int backup;

		gstart = first + g * bpg;
		if (compat & 0x200)	/* sparse_super2 */
			backup = g == 0 || g == LE32(sb, 0x24c) || g == LE32(sb, 0x250);
		else if (rocompat & 0x1)	/* sparse_super */
			backup = g <= 1 || is_power(g, 3) || is_power(g, 5) || is_power(g, 7);
		else
			backup = 1;
		if (backup) {
			if (incompat & 0x10)	/* meta_bg: only the classic part */
				mark(mm, gstart, 1 + (fmb < gdt_blocks ? fmb : gdt_blocks) + resgdt, 1);
			else
				mark(mm, gstart, 1 + gdt_blocks + resgdt, 1);
		}
		blk = LE32(d, 0);
		if (desc >= 64)
			blk |= (uint64_t)LE32(d, 0x20) << 32;
		mark(mm, blk, 1, 2);
		blk = LE32(d, 4);
		if (desc >= 64)
			blk |= (uint64_t)LE32(d, 0x24) << 32;
		mark(mm, blk, 1, 3);
		blk = LE32(d, 8);
		if (desc >= 64)
			blk |= (uint64_t)LE32(d, 0x28) << 32;
		mark(mm, blk, it_blocks, 4);
	}
	/* the journal: inode s_journal_inum (8), an extent tree */
	if ((compat & 0x4) && LE32(sb, 0xe0) && !LE32(sb, 0xe4)) {
		uint32_t jino = LE32(sb, 0xe0) - 1;
		uint64_t itab = LE32(gd + (jino / ipg) * desc, 8);
		uint64_t off = (uint64_t)(jino % ipg) * isize;

		if (desc >= 64)
			itab |= (uint64_t)LE32(gd + (jino / ipg) * desc, 0x28) << 32;
		if (read_block(fd, mm, itab + off / mm->bsize, ino) == 0 &&
		    (LE32(ino + off % mm->bsize, 0x20) & 0x80000))	/* EXTENTS_FL */
			mark_extents(fd, mm, ino + off % mm->bsize + 0x28, 2, 5);
	}
	r = 0;
out:
	free(gd);
	free(ino);
	if (r) {
		free(mm->kind);
		mm->kind = NULL;
	}
	return r;
}

/* NULL if [addr, addr+len) touches no metadata; else what it hits (and where). */
const char *km_meta_check(const struct km_meta *mm, uint64_t addr, uint64_t len, uint64_t *blk)
{
	uint64_t b, e;

	if (!mm || !mm->kind || !len)
		return NULL;
	e = (addr + len - 1) / mm->bsize;
	for (b = addr / mm->bsize; b <= e && b < mm->nblocks; b++)
		if (mm->kind[b]) {
			*blk = b;
			return kinds[mm->kind[b]];
		}
	return NULL;
}
