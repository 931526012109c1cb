/*
 * unit.c - kmodel's own unit tests: every validation rule fires on a
 * deliberately bad reply (and a good reply passes), the mapping cache model,
 * and the script parser.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kmodel.h"

#ifndef EUCLEAN
#define EUCLEAN 117
#endif

static int passed, failed;

#define CHECK(cond, ...) do { \
	if (cond) { passed++; } else { failed++; printf("FAIL: " __VA_ARGS__); \
		printf("  (%s:%d)\n", __FILE__, __LINE__); } } while (0)

static struct km_dev devs[KM_MAX_DEVS + 1];
static struct km_vctx v;

static void setup(void)
{
	int i;

	for (i = 0; i <= KM_MAX_DEVS; i++)
		devs[i].fd = -1;
	devs[1].fd = 100;
	devs[1].size = 1 << 20;
	devs[1].writable = 1;
	devs[2].fd = 101;
	devs[2].size = 1 << 20;
	devs[2].writable = 0;
	v.blocksize = 4096;
	v.maxbytes = 1LL << 40;
	v.has_cache = 0;
	v.devs = devs;
	v.ndevs = KM_MAX_DEVS + 1;
}

static struct fuse_iomap_io mapped(uint64_t off, uint64_t len, uint64_t addr)
{
	struct fuse_iomap_io m = { off, len, addr, FUSE_IOMAP_TYPE_MAPPED, 0, 1 };
	return m;
}

static struct fuse_iomap_io special(uint16_t type)
{
	struct fuse_iomap_io m = { 0, 0, FUSE_IOMAP_NULL_ADDR, type, 0, 0 };
	return m;
}

/* A begin reply that is fine; each case breaks one thing. */
static void good(struct fuse_iomap_begin_in *in, struct fuse_iomap_begin_out *out)
{
	memset(in, 0, sizeof(*in));
	in->pos = 8192;
	in->count = 4096;
	in->attr_ino = 12;
	out->read = mapped(0, 65536, 65536);
	out->write = special(FUSE_IOMAP_TYPE_PURE_OVERWRITE);
}

static void expect_rule(const char *name, const struct fuse_iomap_begin_in *in,
			const struct fuse_iomap_begin_out *out, const char *rule, int err)
{
	int e;
	const char *why = km_validate_begin(&v, in, out, &e);

	CHECK(why && strstr(why, rule) && e == err,
	      "begin rule \"%s\": got \"%s\" err %d, expected \"%s\" err %d\n", name,
	      why ? why : "(accepted)", e, rule, err);
}

static void test_begin_rules(void)
{
	struct fuse_iomap_begin_in in;
	struct fuse_iomap_begin_out out;
	const char *why;
	int e;

	setup();
	good(&in, &out);
	why = km_validate_begin(&v, &in, &out, &e);
	CHECK(!why && !e, "good reply rejected: %s\n", why);

	/* also fine: hole read, write of an unwritten extent, inline */
	good(&in, &out);
	in.opflags = FUSE_IOMAP_OP_WRITE;
	out.read = special(FUSE_IOMAP_TYPE_HOLE);
	out.read.offset = 8192;
	out.read.length = 4096;
	out.write = mapped(8192, 4096, 0);
	out.write.type = FUSE_IOMAP_TYPE_UNWRITTEN;
	out.write.flags = FUSE_IOMAP_F_NEW | FUSE_IOMAP_F_WANT_IOMAP_END;
	why = km_validate_begin(&v, &in, &out, &e);
	CHECK(!why, "good out-of-place write reply rejected: %s\n", why);

#define CASE(name, mutate, rule, err) do { good(&in, &out); mutate; \
	expect_rule(name, &in, &out, rule, err); } while (0)

	CASE("unknown type", out.read.type = 7, "type must be one of", -EUCLEAN);
	CASE("end-only flag", out.read.flags = FUSE_IOMAP_F_SIZE_CHANGED,
	     "flags must be a subset", -EUCLEAN);
	CASE("unknown flag", out.read.flags = 1u << 12, "flags must be a subset", -EUCLEAN);
	CASE("zero length", out.read.length = 0, "length must not be zero", -EUCLEAN);
	CASE("misaligned offset", (out.read.offset = 512, out.read.addr += 512),
	     "multiples of the block size", -EUCLEAN);
	CASE("misaligned length", out.read.length = 10000, "multiples of the block size",
	     -EUCLEAN);
	CASE("offset overflow", (out.read.offset = ~0ULL - 4095, out.read.length = 8192),
	     "offset + length must not overflow", -EUCLEAN);
	CASE("offset past maxbytes", (out.read.offset = 1ULL << 41, in.pos = 1ULL << 41),
	     "below s_maxbytes", -EUCLEAN);
	CASE("mapped without dev", out.read.dev = 0, "need a device", -EUCLEAN);
	CASE("mapped without addr", out.read.addr = FUSE_IOMAP_NULL_ADDR, "need an address",
	     -EUCLEAN);
	CASE("addr overflow", out.read.addr = ~0ULL - 8191, "addr + length must not overflow",
	     -EUCLEAN);
	CASE("unregistered device", out.read.dev = 5, "registered iomap backing device",
	     -EUCLEAN);
	CASE("huge device id", out.read.dev = 0x7fffffff, "registered iomap backing device",
	     -EUCLEAN);
	CASE("beyond device end", out.read.addr = (1 << 20) - 4096,
	     "inside the registered device", -EUCLEAN);
	CASE("hole with dev", (out.read = special(FUSE_IOMAP_TYPE_HOLE), out.read.length = 65536,
			       out.read.dev = 1), "must have dev 0", -EUCLEAN);
	CASE("delalloc with addr", (out.read = special(FUSE_IOMAP_TYPE_DELALLOC),
				    out.read.length = 65536, out.read.addr = 0),
	     "must have addr NULL", -EUCLEAN);
	CASE("inline with dev", (out.read = special(FUSE_IOMAP_TYPE_INLINE),
				 out.read.length = 65536, out.read.dev = 1),
	     "must have dev 0", -EUCLEAN);
	CASE("pure overwrite in read slot", out.read = special(FUSE_IOMAP_TYPE_PURE_OVERWRITE),
	     "only allowed in the write slot", -EUCLEAN);
	CASE("pure overwrite with flags", out.write.flags = FUSE_IOMAP_F_NEW,
	     "PURE_OVERWRITE must have flags 0", -EUCLEAN);
	CASE("pure overwrite with dev", out.write.dev = 1, "PURE_OVERWRITE must have flags 0",
	     -EUCLEAN);
	CASE("retry without cache", out.read = special(FUSE_IOMAP_TYPE_RETRY_CACHE),
	     "requires a mapping cache", -EUCLEAN);
	v.has_cache = 1;
	CASE("retry with addr", (out.read = special(FUSE_IOMAP_TYPE_RETRY_CACHE),
				 out.read.addr = 0), "RETRY_CACHE must have flags 0", -EUCLEAN);
	CASE("retry for atomic op", (out.write = special(FUSE_IOMAP_TYPE_RETRY_CACHE),
				     in.opflags = FUSE_IOMAP_OP_WRITE | FUSE_IOMAP_OP_ATOMIC |
						  FUSE_IOMAP_OP_DIRECT),
	     "bypass the cache", -EUCLEAN);
	good(&in, &out);
	out.read = special(FUSE_IOMAP_TYPE_RETRY_CACHE);
	why = km_validate_begin(&v, &in, &out, &e);
	CHECK(!why, "RETRY_CACHE with a cache rejected: %s\n", why);
	v.has_cache = 0;
	CASE("nocache in begin", out.write = special(FUSE_IOMAP_TYPE_NOCACHE),
	     "NOCACHE is not allowed in a begin reply", -EUCLEAN);
	CASE("read does not contain pos", in.pos = 65536, "read mapping must contain pos",
	     -EUCLEAN);
	CASE("write does not contain pos", (in.opflags = FUSE_IOMAP_OP_WRITE,
					    out.write = mapped(16384, 4096, 0)),
	     "write mapping must contain pos", -EUCLEAN);
	CASE("atomic without ATOMIC_BIO", in.opflags = FUSE_IOMAP_OP_WRITE |
						       FUSE_IOMAP_OP_DIRECT | FUSE_IOMAP_OP_ATOMIC,
	     "ATOMIC_BIO", -EIO);
	CASE("atomic to a hole", (in.opflags = FUSE_IOMAP_OP_WRITE | FUSE_IOMAP_OP_ATOMIC,
				  out.read = special(FUSE_IOMAP_TYPE_HOLE),
				  out.read.length = 65536),
	     "ATOMIC_BIO", -EIO);
	CASE("write to read-only device", (in.opflags = FUSE_IOMAP_OP_WRITE, out.read.dev = 2),
	     "opened read-write", -EACCES);
	good(&in, &out);
	out.read.dev = 2;
	why = km_validate_begin(&v, &in, &out, &e);
	CHECK(!why, "read from a read-only device rejected: %s\n", why);
#undef CASE
}

static void test_ext4_meta_rule(void)
{
	static uint8_t kind[256];
	struct km_meta mm = { kind, 256, 4096 };
	struct fuse_iomap_io m = mapped(0, 8192, 40 * 4096);
	const char *why;

	setup();
	kind[41] = 4;	/* an inode table block */
	devs[1].meta = &mm;
	why = km_check_mapping(&v, &m, 0, 0);
	CHECK(why && strstr(why, "ext4 metadata (inode table, block 41)"),
	      "mapping over an inode table block: %s\n", why ? why : "(accepted)");
	m.addr = 42 * 4096;
	why = km_check_mapping(&v, &m, 0, 0);
	CHECK(!why, "mapping next to metadata rejected: %s\n", why);
	m.type = FUSE_IOMAP_TYPE_UNWRITTEN;
	m.addr = 40 * 4096 + 4096;
	why = km_check_mapping(&v, &m, 0, 1);
	CHECK(why && strstr(why, "ext4 metadata"), "upsert into metadata accepted\n");
	devs[1].meta = NULL;
}

static void test_cache_rules(void)
{
	struct fuse_iomap_upsert_mappings_out u = { 0 };
	struct fuse_range r;
	const char *why;
	int e;

	setup();
	u.read = mapped(0, 8192, 0);
	u.write = special(FUSE_IOMAP_TYPE_NOCACHE);
	why = km_validate_upsert(&v, &u, &e);
	CHECK(!why, "good upsert rejected: %s\n", why);
	u.write = special(FUSE_IOMAP_TYPE_PURE_OVERWRITE);
	why = km_validate_upsert(&v, &u, &e);
	CHECK(why && strstr(why, "write slot") && e == -EUCLEAN,
	      "PURE_OVERWRITE upsert accepted: %s\n", why);
	u.write = special(FUSE_IOMAP_TYPE_RETRY_CACHE);
	why = km_validate_upsert(&v, &u, &e);
	CHECK(why && strstr(why, "not allowed in an upsert"), "RETRY_CACHE upsert: %s\n", why);
	u.write = special(FUSE_IOMAP_TYPE_NOCACHE);
	u.read.addr = (1 << 20) - 4096;
	why = km_validate_upsert(&v, &u, &e);
	CHECK(why && strstr(why, "inside the registered device"), "upsert past device: %s\n",
	      why);

	r = (struct fuse_range){ 0, 0 };
	CHECK(!km_validate_inval(&v, &r), "empty invalidation rejected\n");
	r = (struct fuse_range){ 4096, FUSE_IOMAP_INVAL_TO_EOF };
	CHECK(!km_validate_inval(&v, &r), "invalidation to EOF rejected\n");
	r = (struct fuse_range){ 100, 4096 };
	why = km_validate_inval(&v, &r);
	CHECK(why && strstr(why, "offset must be block aligned"), "misaligned inval: %s\n", why);
	r = (struct fuse_range){ 4096, 100 };
	why = km_validate_inval(&v, &r);
	CHECK(why && strstr(why, "length must be block aligned"), "misaligned inval len: %s\n",
	      why);
	r = (struct fuse_range){ 1ULL << 41, 4096 };
	why = km_validate_inval(&v, &r);
	CHECK(why && strstr(why, "s_maxbytes"), "inval past maxbytes: %s\n", why);
	r = (struct fuse_range){ 16384, ~0ULL - 8191 };
	why = km_validate_inval(&v, &r);
	CHECK(why && strstr(why, "overflow"), "inval overflow: %s\n", why);
}

static void test_config_rules(void)
{
	struct fuse_iomap_config_out c;
	const char *why;
	size_t full = offsetof(struct fuse_iomap_config_out, cache_maxbytes) + 4;

#define GOOD() do { memset(&c, 0, sizeof(c)); \
	c.flags = FUSE_IOMAP_CONFIG_BLOCKSIZE | FUSE_IOMAP_CONFIG_TIME | \
		  FUSE_IOMAP_CONFIG_MAXBYTES | FUSE_IOMAP_CONFIG_UUID; \
	c.s_blocksize = 4096; c.s_time_gran = 1; c.s_maxbytes = 1LL << 40; \
	c.s_uuid_len = 16; } while (0)
#define CASE(mutate, len, rule) do { GOOD(); mutate; why = km_validate_config(&c, len); \
	CHECK(why && strstr(why, rule), "config rule \"%s\": got \"%s\"\n", rule, \
	      why ? why : "(accepted)"); } while (0)

	GOOD();
	why = km_validate_config(&c, full);
	CHECK(!why, "good config rejected: %s\n", why);
	why = km_validate_config(&c, 96);
	CHECK(!why, "good pre-cache (96 byte) config rejected: %s\n", why);
	CASE(c.flags |= 1ULL << 9, full, "unknown bits");
	CASE(c.s_uuid_len = 17, full, "s_uuid_len");
	CASE(c.s_pad[1] = 1, full, "s_pad");
	CASE(c.s_time_gran = 0, full, "s_time_gran");
	CASE(c.s_time_gran = 1000000001, full, "s_time_gran");
	CASE(c.s_maxbytes = -1, full, "s_maxbytes");
	CASE(c.s_blocksize = 3000, full, "s_blocksize");
	CASE(c.s_blocksize = 256, full, "s_blocksize");
	CASE(c.flags |= FUSE_IOMAP_CONFIG_CACHE_MAXBYTES, 96, "too short");
	CASE((void)0, 4, "shorter than the flags");
#undef CASE
#undef GOOD
}

static void test_mcache(void)
{
	struct km_mcache c;
	struct fuse_iomap_io m;
	uint64_t seq;
	int r;

	km_mcache_init(&c, 0);
	CHECK(km_mcache_lookup(&c, 0, 0, &m) == -1, "empty cache has a read fork\n");
	km_mcache_upsert(&c, 0, &(struct fuse_iomap_io){ 0, 8192, 4096,
			 FUSE_IOMAP_TYPE_MAPPED, 0, 1 });
	CHECK(km_mcache_lookup(&c, 1, 0, &m) == -1, "write fork appeared from a read upsert\n");
	r = km_mcache_lookup(&c, 0, 4096, &m);
	CHECK(r == 1 && m.offset == 0 && m.addr == 4096, "lookup inside extent: %d\n", r);
	CHECK(km_mcache_lookup(&c, 0, 8192, &m) == 0, "lookup past extent hit\n");
	/* adjacent and contiguous: merges */
	km_mcache_upsert(&c, 0, &(struct fuse_iomap_io){ 8192, 4096, 12288,
			 FUSE_IOMAP_TYPE_MAPPED, 0, 1 });
	CHECK(c.fork[0].n == 1 && c.fork[0].ext[0].map.length == 12288,
	      "contiguous extents not merged (n=%zu)\n", c.fork[0].n);
	/* adjacent but not contiguous on disk: stays separate */
	km_mcache_upsert(&c, 0, &(struct fuse_iomap_io){ 12288, 4096, 900000,
			 FUSE_IOMAP_TYPE_MAPPED, 0, 1 });
	CHECK(c.fork[0].n == 2, "discontiguous extents merged\n");
	/* replace the middle: split into three */
	seq = c.seq;
	km_mcache_upsert(&c, 0, &(struct fuse_iomap_io){ 4096, 4096, FUSE_IOMAP_NULL_ADDR,
			 FUSE_IOMAP_TYPE_HOLE, 0, 0 });
	CHECK(c.seq > seq, "sequence not bumped on upsert\n");
	r = km_mcache_lookup(&c, 0, 4096, &m);
	CHECK(r == 1 && m.type == FUSE_IOMAP_TYPE_HOLE, "overwritten range not a hole\n");
	r = km_mcache_lookup(&c, 0, 8192, &m);
	CHECK(r == 1 && m.offset == 8192 && m.addr == 12288,
	      "tail of split extent has addr %llu\n", (unsigned long long)m.addr);
	CHECK(c.fork[0].n == 4, "expected 4 extents after split, have %zu\n", c.fork[0].n);
	/* invalidation punches */
	seq = c.seq;
	km_mcache_inval(&c, 0, 0, 4096);
	CHECK(c.seq > seq && km_mcache_lookup(&c, 0, 0, &m) == 0, "inval did not remove\n");
	km_mcache_inval(&c, 0, 8192, FUSE_IOMAP_INVAL_TO_EOF);
	CHECK(km_mcache_lookup(&c, 0, 12288, &m) == 0 && km_mcache_lookup(&c, 0, 4096, &m) == 1,
	      "inval to EOF wrong\n");
	/* NOCACHE leaves a fork alone */
	km_mcache_upsert(&c, 1, &(struct fuse_iomap_io){ 0, 0, FUSE_IOMAP_NULL_ADDR,
			 FUSE_IOMAP_TYPE_NOCACHE, 0, 0 });
	CHECK(km_mcache_lookup(&c, 1, 0, &m) == -1, "NOCACHE created a write fork\n");
	km_mcache_free(&c);
	CHECK(km_mcache_lookup(&c, 0, 4096, &m) == -1, "freed cache still answers\n");

	/* memory limit: the whole fork is dropped */
	km_mcache_init(&c, 256);
	for (r = 0; r < 6; r++)
		km_mcache_upsert(&c, 0, &(struct fuse_iomap_io){ r * 8192ULL, 4096,
				 r * 100000ULL, FUSE_IOMAP_TYPE_MAPPED, 0, 1 });
	CHECK(c.drops == 1 && c.fork[0].n < 6, "fork over the limit not dropped (n=%zu)\n",
	      c.fork[0].n);
	km_mcache_free(&c);

	/* a copy (the stale-mapping detector's) is independent of the original */
	{
		struct km_mcache d;

		km_mcache_init(&c, 0);
		km_mcache_upsert(&c, 0, &(struct fuse_iomap_io){ 0, 8192, 4096,
				 FUSE_IOMAP_TYPE_MAPPED, 0, 1 });
		CHECK(km_mcache_copy(&d, &c) == 0, "copy failed\n");
		km_mcache_inval(&c, 0, 0, FUSE_IOMAP_INVAL_TO_EOF);
		CHECK(km_mcache_lookup(&c, 0, 4096, &m) == 0 &&
		      km_mcache_lookup(&d, 0, 4096, &m) == 1 && m.addr == 4096,
		      "copy shares extents with the original\n");
		km_mcache_free(&c);
		km_mcache_free(&d);
	}
}

static void test_parser(void)
{
	char line[256], err[128];
	struct km_cmd c;
	int r;

	strcpy(line, "write /a/b 0 4096 7   => ok\n");
	r = km_parse_line(line, 1, &c, err, sizeof(err));
	CHECK(r == 1 && !strcmp(c.op, "write") && c.argc == 4 && !strcmp(c.argv[0], "/a/b") &&
	      !strcmp(c.argv[3], "7") && c.expect && !strcmp(c.expect, "ok"),
	      "simple line parsed wrong\n");
	strcpy(line, "stat /f => size=4096 iomap=1   # trailing comment\n");
	r = km_parse_line(line, 2, &c, err, sizeof(err));
	CHECK(r == 1 && c.argc == 1 && !strcmp(c.expect, "size=4096 iomap=1"),
	      "expectation with spaces parsed wrong: \"%s\"\n", c.expect);
	strcpy(line, "   # only a comment\n");
	CHECK(km_parse_line(line, 3, &c, err, sizeof(err)) == 0, "comment line not skipped\n");
	strcpy(line, "\n");
	CHECK(km_parse_line(line, 4, &c, err, sizeof(err)) == 0, "blank line not skipped\n");
	strcpy(line, "syncfs\n");
	r = km_parse_line(line, 5, &c, err, sizeof(err));
	CHECK(r == 1 && c.argc == 0 && !c.expect, "operation without arguments\n");
	strcpy(line, "=> ok\n");
	CHECK(km_parse_line(line, 6, &c, err, sizeof(err)) < 0, "bare expectation accepted\n");
	strcpy(line, "read /f 0 1 =>\n");
	CHECK(km_parse_line(line, 7, &c, err, sizeof(err)) < 0, "empty expectation accepted\n");
	strcpy(line, "read /f => a => b\n");
	CHECK(km_parse_line(line, 8, &c, err, sizeof(err)) < 0, "double arrow accepted\n");
	strcpy(line, "op 1 2 3 4 5 6 7 8 9\n");
	r = km_parse_line(line, 9, &c, err, sizeof(err));
	CHECK(r < 0 && strstr(err, "line 9"), "too many arguments accepted\n");
	CHECK(km_errno_from_name("ENOENT") == ENOENT && km_errno_from_name("EUCLEAN") == EUCLEAN &&
	      km_errno_from_name("size=1") == 0, "errno names\n");
	CHECK(!strcmp(km_errno_name(-ENOSPC), "ENOSPC") && !strcmp(km_errno_name(0), "ok"),
	      "errno to name\n");
}

int main(void)
{
	test_begin_rules();
	test_cache_rules();
	test_ext4_meta_rule();
	test_config_rules();
	test_mcache();
	test_parser();
	printf("kmodel-unit: %d checks passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
