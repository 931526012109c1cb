/*
 * kmodel.h - a userspace model of the kernel side of a fuse (iomap) mount.
 */
#ifndef KMODEL_H
#define KMODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "fuse_wire.h"

#define KM_MAX_DEVS		1024	/* backing ids 1..1024 (spec 2.13) */
#define KM_MAX_LFS_FILESIZE	0x7fffffffffffffffLL
#define KM_DEFAULT_CACHE_MAXBYTES (256u << 10)
#define KM_CACHE_MAX_MAXBYTES	(2u << 20)
#define KM_CACHE_MIN_MAXBYTES	256u
#define KM_MAX_READ		(128u << 10)

/* Control channel between kmodel and the LD_PRELOAD shim in the server. */
#define KM_ENV_CTL_FD		"KMODEL_CTL_FD"
#define KM_ENV_FUSE_FD		"KMODEL_FUSE_FD"
/* "MIN:MAX": the untorn write units block devices report to the server */
#define KM_ENV_ATOMIC_DEV	"KMODEL_ATOMIC_DEV"
/* errno number: the shim fails the server's UPSERT_MAPPINGS notifications */
#define KM_ENV_REFUSE_UPSERT	"KMODEL_REFUSE_UPSERT"
#define KM_ENV_REFUSE_DEVINVAL	"KMODEL_REFUSE_DEVINVAL"

struct km_ctl_req {
	uint32_t magic;
	uint32_t cmd;		/* the ioctl request number */
	uint8_t arg[16];
};

struct km_ctl_rep {
	uint32_t magic;
	int32_t result;		/* >= 0 ioctl result, < 0 -errno */
	uint8_t arg[16];
};

#define KM_CTL_MAGIC		0x6b6d6374u	/* "kmct" */

/* ---- ext4 metadata map (ext4meta.c) ---- */

struct km_meta {
	uint8_t *kind;		/* per filesystem block: 0 = not metadata */
	uint64_t nblocks;
	uint32_t bsize;
};

int km_meta_load(int fd, struct km_meta *mm, char *err, size_t errlen);
const char *km_meta_check(const struct km_meta *mm, uint64_t addr, uint64_t len, uint64_t *blk);

/* ---- validation (validate.c) ---- */

struct km_dev {
	int fd;			/* -1: slot free */
	int dfd;		/* O_DIRECT open of the same device, or -1 */
	int writable;
	uint64_t size;
	int blkdev;
	struct km_meta *meta;	/* --ext4-meta: metadata the mappings must avoid */
};

struct km_vctx {
	uint64_t root_id;	/* root_nodeid= mount option, default 1 */
	uint32_t uid, gid;	/* the caller of the requests (script "as") */
	uint32_t blocksize;
	int64_t maxbytes;
	int has_cache;		/* inode has a mapping cache */
	const struct km_dev *devs;	/* indexed by backing id */
	int ndevs;
};

const char *km_check_mapping(const struct km_vctx *v, const struct fuse_iomap_io *m,
			     int write_slot, int upsert);
const char *km_validate_begin(const struct km_vctx *v, const struct fuse_iomap_begin_in *in,
			      const struct fuse_iomap_begin_out *out, int *err);
const char *km_validate_config(const struct fuse_iomap_config_out *c, size_t len);
const char *km_validate_upsert(const struct km_vctx *v,
			       const struct fuse_iomap_upsert_mappings_out *u, int *err);
const char *km_validate_inval(const struct km_vctx *v, const struct fuse_range *r);
void km_format_map(char *buf, size_t len, const struct fuse_iomap_io *m);
const char *km_type_name(unsigned int type);
void km_format_opflags(char *buf, size_t len, uint32_t opflags);

/* ---- mapping cache model (mcache.c) ---- */

struct km_extent {
	struct fuse_iomap_io map;
};

struct km_fork {
	int present;		/* fork exists */
	struct km_extent *ext;
	size_t n, cap;
};

struct km_mcache {
	int present;
	struct km_fork fork[2];	/* 0 = read, 1 = write */
	uint64_t seq;
	uint32_t maxbytes;
	uint64_t upserts, invals, drops;
};

#define KM_EXTENT_COST 48	/* modelled bytes of cache memory per extent */

void km_mcache_init(struct km_mcache *c, uint32_t maxbytes);
void km_mcache_free(struct km_mcache *c);
int km_mcache_copy(struct km_mcache *dst, const struct km_mcache *src);
void km_mcache_upsert(struct km_mcache *c, int forkno, const struct fuse_iomap_io *m);
void km_mcache_inval(struct km_mcache *c, int forkno, uint64_t off, uint64_t len);
/* 1 = hit (map filled), 0 = miss, -1 = fork absent */
int km_mcache_lookup(const struct km_mcache *c, int forkno, uint64_t pos,
		     struct fuse_iomap_io *map);

/* ---- script parser (script.c) ---- */

#define KM_MAX_ARGS 8

struct km_cmd {
	int line;
	char *op;
	int argc;
	char *argv[KM_MAX_ARGS];
	char *expect;		/* text after "=>", NULL if none */
};

int km_parse_line(char *text, int lineno, struct km_cmd *cmd, char *err, size_t errlen);
int km_errno_from_name(const char *name);
const char *km_errno_name(int err);

/* ---- the connection and the VFS model (wire.c, vfs.c) ---- */

struct km_folio {
	uint8_t *data;
	int dirty;
};

struct km_inode {
	struct km_inode *hnext;
	uint64_t nodeid;
	uint64_t ino;
	uint64_t nlookup;
	uint32_t mode;
	uint32_t nlink;
	uint32_t aflags;
	uint64_t attr_valid;	/* seconds the last reply let us cache attributes */
	uint64_t entry_valid;	/* and the name of the last entry reply */
	int iomap;
	int atomic;		/* FUSE_ATTR_ATOMIC: RWF_ATOMIC direct writes */
	uint64_t size;		/* i_size */
	uint64_t disk_size;	/* i_disk_size: what the server has been told */
	uint64_t fh;
	int opened;
	uint32_t open_reply_flags;
	struct km_folio *pages;	/* indexed by block number */
	size_t npages;
	size_t ncached;
	struct km_mcache mc;
};

/*
 * Per-opcode statistics.  Server times also go into a histogram of
 * KM_LAT_STEPS buckets per doubling (bucket b holds times from
 * 2^(b/KM_LAT_STEPS) ns), for percentiles within 5%.
 */
#define KM_LAT_STEPS	16
#define KM_LAT_BUCKETS	(40 * KM_LAT_STEPS)

struct km_opstat {
	uint64_t count, errors, ns;
	uint32_t lat[KM_LAT_BUCKETS];
};

struct km_conn {
	int fd;			/* our end of the fuse socket */
	int ctl;		/* our end of the shim control socket */
	pid_t pid;
	int crashed;		/* the server was killed ("crash", --crash-after) */
	uint64_t crash_after;	/* --crash-after: requests before the crash */
	uint64_t unique;
	uint32_t minor;
	uint32_t max_write;
	uint32_t max_read;
	uint64_t init_flags;	/* negotiated */
	int want_iomap;
	int refuse_iomap;	/* ... but INIT does not offer it */
	int want_atomic;	/* the kernel supports untorn writes with iomap */
	uint32_t awu_min, awu_max;	/* the devices' untorn write units */
	int iomap;
	int iomap_configured;
	int use_cache;
	int allow_regular;
	int ext4_meta;
	int no_direct;
	int shim_used;
	uint64_t root_id;	/* root_nodeid= mount option, default 1 */
	uint32_t uid, gid;	/* the caller of the requests (script "as") */
	uint32_t blocksize;
	int64_t maxbytes;
	uint32_t cache_maxbytes;
	int no_end, no_ioend, no_flush, no_syncfs;
	int timeout_ms;
	int violations;
	int verbose;
	int dead;
	int fatal_violation;
	uint64_t pagecache_limit;	/* bytes */
	uint64_t pagecache_bytes;
	struct km_dev devs[KM_MAX_DEVS + 1];
	struct km_inode *itab[1024];
	uint8_t *rxbuf;
	size_t rxsize;

	/* statistics */
	struct km_opstat op[64];	/* base opcodes */
	struct km_opstat iop[8];	/* 4089..4096 */
	uint64_t dev_read, dev_written;
	uint64_t fuse_read_bytes, fuse_write_bytes;
	uint64_t map_upcalls, map_cache_hits, retries;
	uint64_t cache_upserts, cache_invals, cache_drops;
	/* stale-mapping detector: every stale_check-th cache hit is checked */
	unsigned long stale_check;
	int trace_maps;		/* --trace-maps */
	uint64_t stale_lookups, stale_checks, stale_requests, stale_found;
	struct fuse_iomap_upsert_mappings_out last_upsert;
	int last_upsert_valid;
	struct km_inode *stale_ip;	/* being checked: its saved cache... */
	struct km_mcache *stale_saved;	/* ...takes invalidations too */
	uint64_t notifications, ioctls, stray_replies;
	uint64_t ioend_unwritten, ioend_shared, ioend_append, ioend_error;
	uint64_t io_bytes;		/* file data moved by workloads */
	uint64_t atomic_writes;		/* REQ_ATOMIC bios */
};

extern struct km_conn *K;

/* wire.c */
int km_spawn(struct km_conn *k, char **argv, const char *shim, const char *server_log);
int km_call(uint32_t opcode, uint64_t nodeid, const struct iovec *in, int nin,
	    void *out, size_t outsize, size_t *outlen);
int km_send_noreply(uint32_t opcode, uint64_t nodeid, const void *in, size_t len);
int km_call_async(uint32_t opcode, uint64_t nodeid, const void *in, size_t len);
int km_flush_requests(void);
int km_flush_node(uint64_t nodeid);
int km_finish(struct km_conn *k, int *server_status);
const char *km_opname(uint32_t opcode);
void km_print_stats(struct km_conn *k, FILE *f, double seconds);
void km_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t km_now_ns(void);

/* vfs.c */
int km_init(struct km_conn *k);
int km_unmount(struct km_conn *k);
struct km_inode *km_iget(uint64_t nodeid);
void km_update_attr(struct km_inode *ip, const struct fuse_attr *a, int fresh);
int km_resolve(const char *path, struct km_inode **ipp);
int km_mkdir(const char *path, uint32_t mode);
int km_create(const char *path, uint32_t mode);
int km_unlink(const char *path, int dir);
int km_rename(const char *from, const char *to);
int km_link(const char *from, const char *to);
int km_open(struct km_inode *ip, int flags);
int km_close(struct km_inode *ip);
ssize_t km_read(struct km_inode *ip, uint64_t pos, size_t len, void *buf, int direct);
/* km_write's direct: KM_IO_DIRECT (O_DIRECT, or 1), KM_IO_ATOMIC (RWF_ATOMIC) */
#define KM_IO_DIRECT		1
#define KM_IO_ATOMIC		2
ssize_t km_write(struct km_inode *ip, uint64_t pos, size_t len, const void *buf, int direct);
ssize_t km_mmap_write(struct km_inode *ip, uint64_t pos, size_t len, const void *buf);
int km_truncate(struct km_inode *ip, uint64_t size);
int km_fallocate(struct km_inode *ip, uint32_t mode, uint64_t off, uint64_t len);
int km_fsync(struct km_inode *ip, int datasync);
int km_syncfs(void);
int km_dropcaches(void);
int km_getattr(struct km_inode *ip, struct fuse_attr *attr);
int km_lookup_attr(const char *path, struct fuse_attr *attr);
int km_setattr(struct km_inode *ip, const struct fuse_setattr_in *in);
int km_setxattr(struct km_inode *ip, const char *name, const void *value, size_t len);
int km_getxattr(struct km_inode *ip, const char *name, size_t *len);
int km_statx(struct km_inode *ip, struct fuse_statx *sx);
int km_statfs(struct fuse_kstatfs *st);
int km_readdir(const char *path, char ***names, int *n);
int km_seek(struct km_inode *ip, uint64_t off, int whence, uint64_t *result);
int km_fiemap(struct km_inode *ip, char *out, size_t outlen);
int km_mappings(struct km_inode *ip, uint64_t *starts, size_t max, size_t *n);
int km_freeze(void);
int km_thaw(void);
int km_shutdown(void);
int km_crash(void);
void km_notify(const struct fuse_out_header *oh, const void *payload, size_t len);

/* run.c: workloads */
int km_run_script(FILE *f, const char *name);
int km_run_random(uint64_t seed, long nops, int nfiles, uint64_t maxsize, const char *paths);
int km_run_stream(const char *mode, uint64_t size, uint64_t bs, int direct);
int km_run_randio(const char *path, uint64_t size, long count);
int km_run_walk(int write);
int km_export_model(const char *dir);

#endif
