/*
 * fuse_wire.h - the FUSE wire protocol as kmodel speaks it.
 *
 * Written for kmodel from the base FUSE protocol (7.x) and the fuse iomap
 * extension described in shared/spec/fuse-iomap-protocol.md (sections 1
 * and 2).  All fields are native-endian.  Only what kmodel sends or
 * decodes is defined here.
 */
#ifndef KMODEL_FUSE_WIRE_H
#define KMODEL_FUSE_WIRE_H

#include <stdint.h>
#include <sys/ioctl.h>

#define FUSE_KERNEL_VERSION		7
#define KM_MINOR_CLASSIC		45	/* what kmodel offers without iomap */
#define KM_MINOR_IOMAP			99	/* placeholder minor of the iomap series */
#define FUSE_ROOT_ID			1

enum fuse_opcode {
	FUSE_LOOKUP		= 1,
	FUSE_FORGET		= 2,
	FUSE_GETATTR		= 3,
	FUSE_SETATTR		= 4,
	FUSE_READLINK		= 5,
	FUSE_SYMLINK		= 6,
	FUSE_MKNOD		= 8,
	FUSE_MKDIR		= 9,
	FUSE_UNLINK		= 10,
	FUSE_RMDIR		= 11,
	FUSE_RENAME		= 12,
	FUSE_LINK		= 13,
	FUSE_OPEN		= 14,
	FUSE_READ		= 15,
	FUSE_WRITE		= 16,
	FUSE_STATFS		= 17,
	FUSE_RELEASE		= 18,
	FUSE_FSYNC		= 20,
	FUSE_SETXATTR		= 21,
	FUSE_GETXATTR		= 22,
	FUSE_LISTXATTR		= 23,
	FUSE_REMOVEXATTR	= 24,
	FUSE_FLUSH		= 25,
	FUSE_INIT		= 26,
	FUSE_OPENDIR		= 27,
	FUSE_READDIR		= 28,
	FUSE_RELEASEDIR		= 29,
	FUSE_FSYNCDIR		= 30,
	FUSE_ACCESS		= 34,
	FUSE_CREATE		= 35,
	FUSE_INTERRUPT		= 36,
	FUSE_BMAP		= 37,
	FUSE_DESTROY		= 38,
	FUSE_BATCH_FORGET	= 42,
	FUSE_FALLOCATE		= 43,
	FUSE_READDIRPLUS	= 44,
	FUSE_RENAME2		= 45,
	FUSE_LSEEK		= 46,
	FUSE_COPY_FILE_RANGE	= 47,
	FUSE_SYNCFS		= 50,
	FUSE_TMPFILE		= 51,
	FUSE_STATX		= 52,

	/* fuse iomap (spec 1.1) */
	FUSE_FREEZE_FS		= 4089,
	FUSE_UNFREEZE_FS	= 4090,
	FUSE_SHUTDOWN_FS	= 4091,
	FUSE_IOMAP_CONFIG	= 4092,
	FUSE_IOMAP_IOEND	= 4093,
	FUSE_IOMAP_BEGIN	= 4094,
	FUSE_IOMAP_END		= 4095,
};

enum fuse_notify_code {
	FUSE_NOTIFY_POLL		= 1,
	FUSE_NOTIFY_INVAL_INODE		= 2,
	FUSE_NOTIFY_INVAL_ENTRY		= 3,
	FUSE_NOTIFY_STORE		= 4,
	FUSE_NOTIFY_RETRIEVE		= 5,
	FUSE_NOTIFY_DELETE		= 6,
	FUSE_NOTIFY_RESEND		= 7,
	FUSE_NOTIFY_INC_EPOCH		= 8,
	FUSE_NOTIFY_PRUNE		= 9,
	FUSE_NOTIFY_IOMAP_DEV_INVAL		= 99,
	FUSE_NOTIFY_IOMAP_UPSERT_MAPPINGS	= 100,
	FUSE_NOTIFY_IOMAP_INVAL_MAPPINGS	= 101,
};

/* INIT flags (first word) */
#define FUSE_ASYNC_READ		(1u << 0)
#define FUSE_POSIX_LOCKS	(1u << 1)
#define FUSE_ATOMIC_O_TRUNC	(1u << 3)
#define FUSE_EXPORT_SUPPORT	(1u << 4)
#define FUSE_BIG_WRITES		(1u << 5)
#define FUSE_DONT_MASK		(1u << 6)
#define FUSE_AUTO_INVAL_DATA	(1u << 12)
#define FUSE_PARALLEL_DIROPS	(1u << 18)
#define FUSE_HANDLE_KILLPRIV	(1u << 19)
#define FUSE_MAX_PAGES		(1u << 22)
#define FUSE_INIT_EXT		(1u << 30)
/* INIT flags2 (bit n of flags2 is bit 32+n of the 64-bit flag set) */
#define FUSE_IOMAP		(1ULL << 43)

/* fuse_attr.flags */
#define FUSE_ATTR_SUBMOUNT	(1u << 0)
#define FUSE_ATTR_DAX		(1u << 1)
#define FUSE_ATTR_EXCLUSIVE	(1u << 2)
#define FUSE_ATTR_IOMAP		(1u << 3)
#define FUSE_ATTR_ATOMIC	(1u << 4)
#define FUSE_ATTR_SYNC		(1u << 5)
#define FUSE_ATTR_IMMUTABLE	(1u << 6)
#define FUSE_ATTR_APPEND	(1u << 7)

/* setattr valid */
#define FATTR_MODE		(1u << 0)
#define FATTR_UID		(1u << 1)
#define FATTR_GID		(1u << 2)
#define FATTR_SIZE		(1u << 3)
#define FATTR_ATIME		(1u << 4)
#define FATTR_MTIME		(1u << 5)
#define FATTR_FH		(1u << 6)

/* open reply flags */
#define FOPEN_DIRECT_IO		(1u << 0)
#define FOPEN_KEEP_CACHE	(1u << 1)
#define FOPEN_NONSEEKABLE	(1u << 2)
#define FOPEN_STREAM		(1u << 4)
#define FOPEN_PASSTHROUGH	(1u << 7)

#define FUSE_FSYNC_FDATASYNC	(1u << 0)
#define FUSE_READ_LOCKOWNER	(1u << 1)

struct fuse_in_header {
	uint32_t len;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid;
	uint32_t gid;
	uint32_t pid;
	uint16_t total_extlen;
	uint16_t padding;
};

struct fuse_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

struct fuse_attr {
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t atime;
	uint64_t mtime;
	uint64_t ctime;
	uint32_t atimensec;
	uint32_t mtimensec;
	uint32_t ctimensec;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint32_t rdev;
	uint32_t blksize;
	uint32_t flags;
};

struct fuse_entry_out {
	uint64_t nodeid;
	uint64_t generation;
	uint64_t entry_valid;
	uint64_t attr_valid;
	uint32_t entry_valid_nsec;
	uint32_t attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_forget_in {
	uint64_t nlookup;
};

struct fuse_forget_one {
	uint64_t nodeid;
	uint64_t nlookup;
};

struct fuse_batch_forget_in {
	uint32_t count;
	uint32_t dummy;
};

struct fuse_getattr_in {
	uint32_t getattr_flags;
	uint32_t dummy;
	uint64_t fh;
};

struct fuse_attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t dummy;
	struct fuse_attr attr;
};

struct fuse_setattr_in {
	uint32_t valid;
	uint32_t padding;
	uint64_t fh;
	uint64_t size;
	uint64_t lock_owner;
	uint64_t atime;
	uint64_t mtime;
	uint64_t ctime;
	uint32_t atimensec;
	uint32_t mtimensec;
	uint32_t ctimensec;
	uint32_t mode;
	uint32_t unused4;
	uint32_t uid;
	uint32_t gid;
	uint32_t unused5;
};

/* without FUSE_SETXATTR_EXT, which kmodel does not offer */
struct fuse_setxattr_in {
	uint32_t size;
	uint32_t flags;
};

struct fuse_getxattr_in {
	uint32_t size;
	uint32_t padding;
};

struct fuse_getxattr_out {
	uint32_t size;
	uint32_t padding;
};

struct fuse_mkdir_in {
	uint32_t mode;
	uint32_t umask;
};

struct fuse_rename_in {
	uint64_t newdir;
};

struct fuse_link_in {
	uint64_t oldnodeid;
};

struct fuse_open_in {
	uint32_t flags;
	uint32_t open_flags;
};

struct fuse_create_in {
	uint32_t flags;
	uint32_t mode;
	uint32_t umask;
	uint32_t open_flags;
};

struct fuse_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

struct fuse_release_in {
	uint64_t fh;
	uint32_t flags;
	uint32_t release_flags;
	uint64_t lock_owner;
};

struct fuse_flush_in {
	uint64_t fh;
	uint32_t unused;
	uint32_t padding;
	uint64_t lock_owner;
};

struct fuse_read_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t size;
	uint32_t read_flags;
	uint64_t lock_owner;
	uint32_t flags;
	uint32_t padding;
};

struct fuse_write_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t size;
	uint32_t write_flags;
	uint64_t lock_owner;
	uint32_t flags;
	uint32_t padding;
};

struct fuse_write_out {
	uint32_t size;
	uint32_t padding;
};

struct fuse_kstatfs {
	uint64_t blocks;
	uint64_t bfree;
	uint64_t bavail;
	uint64_t files;
	uint64_t ffree;
	uint32_t bsize;
	uint32_t namelen;
	uint32_t frsize;
	uint32_t padding;
	uint32_t spare[6];
};

struct fuse_fsync_in {
	uint64_t fh;
	uint32_t fsync_flags;
	uint32_t padding;
};

struct fuse_init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint32_t flags2;
	uint32_t unused[11];
};

struct fuse_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;
	uint16_t max_pages;
	uint16_t map_alignment;
	uint32_t flags2;
	uint32_t unused[7];
};

struct fuse_dirent {
	uint64_t ino;
	uint64_t off;
	uint32_t namelen;
	uint32_t type;
	char name[];
};

struct fuse_fallocate_in {
	uint64_t fh;
	uint64_t offset;
	uint64_t length;
	uint32_t mode;
	uint32_t padding;
};

struct fuse_lseek_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t whence;
	uint32_t padding;
};

struct fuse_lseek_out {
	uint64_t offset;
};

struct fuse_syncfs_in {
	uint64_t padding;
};

struct fuse_statx_in {
	uint32_t getattr_flags;
	uint32_t reserved;
	uint64_t fh;
	uint32_t sx_flags;
	uint32_t sx_mask;
};

struct fuse_sx_time {
	int64_t tv_sec;
	uint32_t tv_nsec;
	int32_t reserved;
};

struct fuse_statx {
	uint32_t mask;
	uint32_t blksize;
	uint64_t attributes;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint16_t mode;
	uint16_t spare0;
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t attributes_mask;
	struct fuse_sx_time atime;
	struct fuse_sx_time btime;
	struct fuse_sx_time ctime;
	struct fuse_sx_time mtime;
	uint32_t rdev_major;
	uint32_t rdev_minor;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t mnt_id;
	uint32_t dio_mem_align;
	uint32_t dio_offset_align;
	uint64_t subvol;
	uint32_t atomic_write_unit_min;
	uint32_t atomic_write_unit_max;
	uint32_t atomic_write_segments_max;
	uint32_t dio_read_offset_align;
	uint32_t atomic_write_unit_max_opt;
	uint32_t spare2;
	uint64_t spare3[8];
};

/* statx mask bits (struct fuse_statx has the layout of struct statx) */
#define KM_STATX_BTIME		0x00000800u
#define KM_STATX_DIOALIGN	0x00002000u
#define KM_STATX_WRITE_ATOMIC	0x00010000u

struct fuse_statx_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t flags;
	uint64_t spare[2];
	struct fuse_statx stat;
};

/* ---- fuse iomap (spec section 2) ---- */

enum {
	FUSE_IOMAP_TYPE_HOLE		= 0,
	FUSE_IOMAP_TYPE_DELALLOC	= 1,
	FUSE_IOMAP_TYPE_MAPPED		= 2,
	FUSE_IOMAP_TYPE_UNWRITTEN	= 3,
	FUSE_IOMAP_TYPE_INLINE		= 4,
	FUSE_IOMAP_TYPE_NOCACHE		= 253,
	FUSE_IOMAP_TYPE_RETRY_CACHE	= 254,
	FUSE_IOMAP_TYPE_PURE_OVERWRITE	= 255,
};

#define FUSE_IOMAP_F_NEW		(1u << 0)
#define FUSE_IOMAP_F_DIRTY		(1u << 1)
#define FUSE_IOMAP_F_SHARED		(1u << 2)
#define FUSE_IOMAP_F_MERGED		(1u << 3)
#define FUSE_IOMAP_F_BOUNDARY		(1u << 4)
#define FUSE_IOMAP_F_ANON_WRITE		(1u << 5)
#define FUSE_IOMAP_F_ATOMIC_BIO		(1u << 6)
#define FUSE_IOMAP_F_WANT_IOMAP_END	(1u << 7)
#define FUSE_IOMAP_F_SIZE_CHANGED	(1u << 8)
#define FUSE_IOMAP_F_STALE		(1u << 9)
#define FUSE_IOMAP_F_SERVER_MASK	0xffu

#define FUSE_IOMAP_OP_WRITE		(1u << 0)
#define FUSE_IOMAP_OP_ZERO		(1u << 1)
#define FUSE_IOMAP_OP_REPORT		(1u << 2)
#define FUSE_IOMAP_OP_FAULT		(1u << 3)
#define FUSE_IOMAP_OP_DIRECT		(1u << 4)
#define FUSE_IOMAP_OP_NOWAIT		(1u << 5)
#define FUSE_IOMAP_OP_OVERWRITE_ONLY	(1u << 6)
#define FUSE_IOMAP_OP_UNSHARE		(1u << 7)
#define FUSE_IOMAP_OP_DAX		(1u << 8)
#define FUSE_IOMAP_OP_ATOMIC		(1u << 9)
#define FUSE_IOMAP_OP_DONTCACHE		(1u << 10)
#define FUSE_IOMAP_OP_SWAPFILE		(1u << 30)
#define FUSE_IOMAP_OP_WRITEBACK		(1u << 31)
#define FUSE_IOMAP_OP_WRITE_MASK	(FUSE_IOMAP_OP_WRITE | FUSE_IOMAP_OP_ZERO | \
					 FUSE_IOMAP_OP_UNSHARE | FUSE_IOMAP_OP_WRITEBACK)
#define FUSE_IOMAP_OP_NOCACHE_MASK	(FUSE_IOMAP_OP_ATOMIC | FUSE_IOMAP_OP_SWAPFILE)

#define FUSE_IOMAP_IOEND_SHARED		(1u << 0)
#define FUSE_IOMAP_IOEND_UNWRITTEN	(1u << 1)
#define FUSE_IOMAP_IOEND_BOUNDARY	(1u << 2)
#define FUSE_IOMAP_IOEND_DIRECT		(1u << 3)
#define FUSE_IOMAP_IOEND_APPEND		(1u << 4)
#define FUSE_IOMAP_IOEND_WRITEBACK	(1u << 5)
#define FUSE_IOMAP_IOEND_SWAPOFF	(1u << 6)

#define FUSE_IOMAP_DEV_NULL		0u
#define FUSE_IOMAP_NULL_ADDR		(~0ULL)
#define FUSE_IOMAP_INVAL_TO_EOF		(~0ULL)

struct fuse_iomap_io {
	uint64_t offset;
	uint64_t length;
	uint64_t addr;
	uint16_t type;
	uint16_t flags;
	uint32_t dev;
};

struct fuse_iomap_begin_in {
	uint32_t opflags;
	uint32_t reserved;
	uint64_t attr_ino;
	uint64_t pos;
	uint64_t count;
};

struct fuse_iomap_begin_out {
	struct fuse_iomap_io read;
	struct fuse_iomap_io write;
};

struct fuse_iomap_end_in {
	uint32_t opflags;
	uint32_t reserved;
	uint64_t attr_ino;
	uint64_t pos;
	uint64_t count;
	int64_t written;
	struct fuse_iomap_io map;
};

struct fuse_iomap_ioend_in {
	uint32_t flags;
	int32_t error;
	uint64_t attr_ino;
	uint64_t pos;
	uint64_t new_addr;
	uint64_t written;
	uint32_t dev;
	uint32_t pad;
};

struct fuse_iomap_ioend_out {
	uint64_t newsize;
};

#define FUSE_IOMAP_CONFIG_SID		(1ULL << 0)
#define FUSE_IOMAP_CONFIG_UUID		(1ULL << 1)
#define FUSE_IOMAP_CONFIG_BLOCKSIZE	(1ULL << 2)
#define FUSE_IOMAP_CONFIG_MAX_LINKS	(1ULL << 3)
#define FUSE_IOMAP_CONFIG_TIME		(1ULL << 4)
#define FUSE_IOMAP_CONFIG_MAXBYTES	(1ULL << 5)
#define FUSE_IOMAP_CONFIG_CACHE_MAXBYTES (1ULL << 6)
#define FUSE_IOMAP_CONFIG_ALL		0x7fULL

struct fuse_iomap_config_in {
	uint64_t flags;
	int64_t maxbytes;
	uint32_t cache_maxbytes;
	uint32_t zero;
	uint64_t padding[5];
};

struct fuse_iomap_config_out {
	uint64_t flags;
	char s_id[32];
	uint8_t s_uuid[16];
	uint8_t s_uuid_len;
	uint8_t s_pad[3];
	uint32_t s_blocksize;
	uint32_t s_max_links;
	uint32_t s_time_gran;
	int64_t s_time_min;
	int64_t s_time_max;
	int64_t s_maxbytes;
	uint32_t cache_maxbytes;
};

struct fuse_freezefs_in {
	uint64_t unlinked;
};

struct fuse_shutdownfs_in {
	uint64_t flags;
};

struct fuse_range {
	uint64_t offset;
	uint64_t length;
};

struct fuse_iomap_dev_inval_out {
	uint32_t dev;
	uint32_t reserved;
	struct fuse_range range;
};

struct fuse_iomap_inval_mappings_out {
	uint64_t nodeid;
	uint64_t attr_ino;
	struct fuse_range read;
	struct fuse_range write;
};

struct fuse_iomap_upsert_mappings_out {
	uint64_t nodeid;
	uint64_t attr_ino;
	struct fuse_iomap_io read;
	struct fuse_iomap_io write;
};

/* ---- /dev/fuse ioctls (magic 229) ---- */

struct fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define FUSE_BACKING_TYPE_MASK		0xffu
#define FUSE_BACKING_TYPE_PASSTHROUGH	0u
#define FUSE_BACKING_TYPE_IOMAP		1u
#define FUSE_BACKING_FLAGS_ALL		FUSE_BACKING_TYPE_MASK

struct fuse_iomap_support {
	uint64_t flags;
	uint64_t padding;
};

#define FUSE_IOMAP_SUPPORT_FILEIO	(1ULL << 0)
#define FUSE_IOMAP_SUPPORT_ATOMIC	(1ULL << 1)

struct fuse_iomap_backing_info {
	uint32_t backing_id;
	uint32_t blocksize;
};

#define FUSE_DEV_IOC_MAGIC		229
#define FUSE_DEV_IOC_CLONE		_IOR(FUSE_DEV_IOC_MAGIC, 0, uint32_t)
#define FUSE_DEV_IOC_BACKING_OPEN	_IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE	_IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
#define FUSE_DEV_IOC_SYNC_INIT		_IO(FUSE_DEV_IOC_MAGIC, 3)
#define FUSE_DEV_IOC_IOMAP_SUPPORT	_IOR(FUSE_DEV_IOC_MAGIC, 99, struct fuse_iomap_support)
#define FUSE_DEV_IOC_SET_NOFS		_IOW(FUSE_DEV_IOC_MAGIC, 100, uint32_t)
#define FUSE_DEV_IOC_ADD_IOMAP		_IO(FUSE_DEV_IOC_MAGIC, 101)
#define FUSE_DEV_IOC_IOMAP_SET_BLOCKSIZE _IOW(FUSE_DEV_IOC_MAGIC, 102, struct fuse_iomap_backing_info)

/* Sizes fixed by the protocol; checked at compile time in wire.c. */
#define KM_WIRE_SIZES(X) \
	X(fuse_in_header, 40) X(fuse_out_header, 16) X(fuse_attr, 88) \
	X(fuse_entry_out, 128) X(fuse_attr_out, 104) X(fuse_setattr_in, 88) \
	X(fuse_open_out, 16) X(fuse_read_in, 40) X(fuse_write_in, 40) \
	X(fuse_init_in, 64) X(fuse_init_out, 64) X(fuse_fallocate_in, 32) \
	X(fuse_statx, 256) X(fuse_iomap_io, 32) X(fuse_iomap_begin_in, 32) \
	X(fuse_iomap_begin_out, 64) X(fuse_iomap_end_in, 72) \
	X(fuse_iomap_ioend_in, 48) X(fuse_iomap_ioend_out, 8) \
	X(fuse_iomap_config_in, 64) X(fuse_iomap_config_out, 104) \
	X(fuse_iomap_dev_inval_out, 24) X(fuse_iomap_inval_mappings_out, 48) \
	X(fuse_iomap_upsert_mappings_out, 80) X(fuse_backing_map, 16) \
	X(fuse_iomap_support, 16) X(fuse_iomap_backing_info, 8)

#endif
