/*
 * libFuzzer target for kmodel's checks of server replies: whatever bytes
 * a server sends as an IOMAP_BEGIN, IOMAP_CONFIG, upsert or invalidation
 * reply, the checks must classify them without crashing or reading out
 * of bounds.  The first input byte picks the reply and the shape of the
 * devices and mount; the rest fills the reply (and, for IOMAP_BEGIN, the
 * request it answers).
 *
 *   make -C kmodel fuzz && kmodel/fuzz/fuzz_validate kmodel/fuzz/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../kmodel.h"

static struct km_dev devs[KM_MAX_DEVS + 1];

static void take(void *dst, size_t len, const uint8_t **p, size_t *n)
{
	size_t k = len < *n ? len : *n;

	memset(dst, 0, len);
	memcpy(dst, *p, k);
	*p += k;
	*n -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuse_iomap_begin_in in;
	struct fuse_iomap_begin_out out;
	struct fuse_iomap_config_out cfg;
	struct fuse_iomap_upsert_mappings_out up;
	struct fuse_range r;
	struct km_vctx v;
	uint8_t sel;
	size_t cfglen;
	int i, err = 0;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;

	/* backing ids 1 (1 MiB, writable) and 2 (1 TiB, read-only or not) */
	for (i = 0; i <= KM_MAX_DEVS; i++) {
		devs[i].fd = i == 1 || i == 2 ? 99 + i : -1;
		devs[i].size = (uint64_t)1 << (i == 1 ? 20 : 40);
		devs[i].writable = i == 1 || (sel & 0x10);
	}
	memset(&v, 0, sizeof(v));
	v.root_id = 1;
	v.blocksize = (sel & 0x20) ? 1024 : 4096;
	v.maxbytes = (sel & 0x40) ? (1LL << 40) : INT64_MAX;
	v.has_cache = !!(sel & 0x80);
	v.devs = devs;
	v.ndevs = KM_MAX_DEVS + 1;

	switch (sel & 3) {
	case 0:
		take(&in, sizeof(in), &data, &size);
		take(&out, sizeof(out), &data, &size);
		km_validate_begin(&v, &in, &out, &err);
		break;
	case 1:
		cfglen = size < sizeof(cfg) ? size : sizeof(cfg);
		take(&cfg, sizeof(cfg), &data, &size);
		km_validate_config(&cfg, cfglen);
		break;
	case 2:
		take(&up, sizeof(up), &data, &size);
		km_validate_upsert(&v, &up, &err);
		break;
	case 3:
		take(&r, sizeof(r), &data, &size);
		km_validate_inval(&v, &r);
		break;
	}
	return 0;
}
