/*
 * kmodel - play the kernel's side of a fuse (iomap) mount against an
 * unmodified FUSE server, do the file data I/O where its mappings point,
 * and check every reply with the kernel's rules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kmodel.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: kmodel [options] WORKLOAD -- SERVER [ARGS...]\n"
"\n"
"Starts SERVER with a SOCK_SEQPACKET socket as its fuse device; the argument\n"
"@FD@ is replaced by /dev/fd/N.  Example:\n"
"  kmodel --iomap --script t.km -- fuse2fs img @FD@ -f\n"
"\n"
"workloads (one or more, run in this order):\n"
"  --script FILE        run a script of operations with expected results\n"
"  --random SEED        fsx-style random operations, checked against a model\n"
"      --ops N          number of random operations (default 1000)\n"
"      --files N        number of files (default 3)\n"
"      --maxsize BYTES  largest file offset (default 256K)\n"
"      --paths P1,P2    use these existing files instead of creating\n"
"                       /fsx0..; their current contents seed the model\n"
"  --stream SIZE[:BS[:direct]]  sequential write + read back of /kmodel.stream\n"
"  --randio SIZE:COUNT  write a SIZE file, then COUNT random 4 KiB reads and\n"
"                       COUNT random 4 KiB overwrites (+fsync): rates and\n"
"                       mapping requests per I/O and per mapping touched\n"
"  --walk read|write    read the whole tree (READDIR, LOOKUP, GETATTR, READ);\n"
"                       write: also overwrite a few files and create one;\n"
"                       server errors are counted by errno, not failures\n"
"\n"
"options:\n"
"  --iomap              offer FUSE_IOMAP in INIT (default: classic kernel)\n"
"  --refuse-iomap       IOMAP_SUPPORT says the kernel can do iomap, but INIT\n"
"                       does not offer it (the server must fall back)\n"
"  --atomic             the kernel supports untorn (RWF_ATOMIC) writes with\n"
"                       iomap: IOMAP_SUPPORT says so, FUSE_ATTR_ATOMIC counts\n"
"  --atomic-dev MIN:MAX the block devices write MIN..MAX bytes untorn: the\n"
"                       server's statx(STATX_WRITE_ATOMIC) of a block device\n"
"                       says so (shim), REQ_ATOMIC bios are checked against it\n"
"  --no-cache           model a kernel without the iomap mapping cache\n"
"  --cache-maxbytes N   the mapping cache size the kernel offers in\n"
"                       FUSE_IOMAP_CONFIG and keeps per fork (default 256K)\n"
"  --refuse-upserts ERR the server's UPSERT_MAPPINGS notifications fail with\n"
"                       ERR (an errno name, e.g. ENOMEM) and cache nothing\n"
"  --refuse-dev-inval ERR  the server's DEV_INVAL notifications fail with ERR\n"
"  --trace-maps         print every IOMAP_BEGIN reply, mapping cache\n"
"                       notification and script line\n"
"  --stale-check N      stale-mapping detector: every Nth mapping taken from\n"
"                       the cache, ask the server again (a read IOMAP_BEGIN\n"
"                       over the whole cached extent) and fail the run if\n"
"                       its answer differs from the cached mapping\n"
"  --allow-regular      accept regular files as iomap backing devices\n"
"                       (the kernel only accepts block devices)\n"
"  --root-nodeid N     the root_nodeid= mount option: the server's root node\n"
"                       id (fuse4fs uses 2, the ext4 root inode)\n"
"  --ext4-meta          backing devices hold ext4: refuse mappings into its\n"
"                       metadata (superblocks, descriptors, bitmaps, inode\n"
"                       tables, journal)\n"
"  --buffered-dev       do file data I/O through the backing device's page\n"
"                       cache instead of around it (O_DIRECT, like bios)\n"
"  --shim PATH          LD_PRELOAD shim (default: shim.so next to kmodel)\n"
"  --no-shim            do not preload the shim\n"
"  --pagecache SIZE     page cache size before forced writeback (default 64M)\n"
"  --timeout MS         fail if the server does not answer (default 30000)\n"
"  --server-log FILE    server stdout/stderr go here\n"
"  --export DIR         after the run, write the model's file contents under DIR\n"
"  --crash-after N      the machine goes down once N requests were sent: the\n"
"                       server gets SIGKILL instead of request N+1, nothing\n"
"                       more reaches the devices, the script stops there\n"
"  --expect-iomap       fail unless iomap was negotiated\n"
"  --stats              print statistics (default on; --no-stats)\n"
"  -v, --verbose\n");
}

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': x <<= 10; end++; break;
	case 'm': case 'M': x <<= 20; end++; break;
	case 'g': case 'G': x <<= 30; end++; break;
	}
	if (end == s || (*end && *end != ':'))
		return -1;
	*v = x;
	return 0;
}

/*
 * --atomic-dev MIN:MAX: the block devices can write MIN..MAX bytes untorn.
 * Loop devices cannot, so the shim makes the server's statx of a block
 * device say so, and the model's REQ_ATOMIC bios are checked against it.
 * The units are reported as given, nonsense (MIN > MAX, MIN 0) included,
 * so that a server can be tested against a device that reports it.
 */
static int parse_atomic_dev(const char *s, struct km_conn *k)
{
	uint64_t min, max;
	const char *colon = strchr(s, ':');

	if (!colon || parse_size(s, &min) || parse_size(colon + 1, &max) ||
	    !max || min > UINT32_MAX || max > UINT32_MAX) {
		fprintf(stderr, "kmodel: --atomic-dev takes MIN:MAX\n");
		return -1;
	}
	k->awu_min = min;
	k->awu_max = max;
	return setenv(KM_ENV_ATOMIC_DEV, s, 1);
}

int main(int argc, char **argv)
{
	static struct km_conn conn;
	static const struct option opts[] = {
		{ "script", required_argument, NULL, 's' },
		{ "random", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'n' },
		{ "files", required_argument, NULL, 'F' },
		{ "maxsize", required_argument, NULL, 'M' },
		{ "paths", required_argument, NULL, 'Q' },
		{ "stream", required_argument, NULL, 'S' },
		{ "walk", required_argument, NULL, 'W' },
		{ "randio", required_argument, NULL, 'D' },
		{ "iomap", no_argument, NULL, 'i' },
		{ "atomic", no_argument, NULL, 'a' },
		{ "refuse-iomap", no_argument, NULL, 'Y' },
		{ "atomic-dev", required_argument, NULL, 'A' },
		{ "no-cache", no_argument, NULL, 'C' },
		{ "cache-maxbytes", required_argument, NULL, 'm' },
		{ "refuse-upserts", required_argument, NULL, 'U' },
		{ "refuse-dev-inval", required_argument, NULL, 'J' },
		{ "stale-check", required_argument, NULL, 'K' },
		{ "trace-maps", no_argument, NULL, 'T' },
		{ "allow-regular", no_argument, NULL, 'R' },
		{ "buffered-dev", no_argument, NULL, 'B' },
		{ "ext4-meta", no_argument, NULL, 'E' },
		{ "root-nodeid", required_argument, NULL, 'N' },
		{ "shim", required_argument, NULL, 'P' },
		{ "no-shim", no_argument, NULL, 'p' },
		{ "pagecache", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "server-log", required_argument, NULL, 'l' },
		{ "export", required_argument, NULL, 'e' },
		{ "crash-after", required_argument, NULL, 'Z' },
		{ "expect-iomap", no_argument, NULL, 'I' },
		{ "stats", no_argument, NULL, 'x' },
		{ "no-stats", no_argument, NULL, 'X' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *scripts[16], *shim = NULL, *server_log = NULL, *export = NULL;
	const char *stream = NULL, *paths = NULL, *walk = NULL, *randio = NULL;
	char shimbuf[PATH_MAX];
	int nscripts = 0, do_random = 0, no_shim = 0, stats = 1, expect_iomap = 0;
	uint64_t seed = 0, maxsize = 256 << 10, pc = 64 << 20;
	long nops = 1000;
	int nfiles = 3, c, i, status, failed = 0;
	uint64_t t0;

	K = &conn;
	for (i = 0; i <= KM_MAX_DEVS; i++)
		conn.devs[i].fd = conn.devs[i].dfd = -1;
	conn.fd = conn.ctl = -1;
	conn.root_id = FUSE_ROOT_ID;
	conn.blocksize = 4096;
	conn.maxbytes = KM_MAX_LFS_FILESIZE;
	conn.cache_maxbytes = KM_DEFAULT_CACHE_MAXBYTES;
	conn.use_cache = 1;
	conn.timeout_ms = 30000;

	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (nscripts == 16)
				return 2;
			scripts[nscripts++] = optarg;
			break;
		case 'r': do_random = 1; seed = strtoull(optarg, NULL, 0); break;
		case 'n': nops = atol(optarg); break;
		case 'F': nfiles = atoi(optarg); break;
		case 'M':
			if (parse_size(optarg, &maxsize))
				return 2;
			break;
		case 'S': stream = optarg; break;
		case 'W':
			if (strcmp(optarg, "read") && strcmp(optarg, "write")) {
				fprintf(stderr, "kmodel: --walk takes read or write\n");
				return 2;
			}
			walk = optarg;
			break;
		case 'Q': paths = optarg; break;
		case 'D': randio = optarg; break;
		case 'i': conn.want_iomap = 1; break;
		case 'Y': conn.want_iomap = conn.refuse_iomap = 1; break;
		case 'a': conn.want_atomic = 1; break;
		case 'A':
			if (parse_atomic_dev(optarg, &conn))
				return 2;
			break;
		case 'C': conn.use_cache = 0; break;
		case 'm': {
			uint64_t v;

			if (parse_size(optarg, &v) || v > UINT32_MAX)
				return 2;
			conn.cache_maxbytes = v;
			break;
		}
		case 'U':
		case 'J': {
			char num[16];
			int e = km_errno_from_name(optarg);

			if (e <= 0) {
				fprintf(stderr, "kmodel: --%s takes an errno name\n",
					c == 'U' ? "refuse-upserts" : "refuse-dev-inval");
				return 2;
			}
			snprintf(num, sizeof(num), "%d", e);
			setenv(c == 'U' ? KM_ENV_REFUSE_UPSERT : KM_ENV_REFUSE_DEVINVAL,
			       num, 1);
			break;
		}
		case 'T': conn.trace_maps = 1; break;
		case 'K':
			conn.stale_check = strtoul(optarg, NULL, 0);
			break;
		case 'R': conn.allow_regular = 1; break;
		case 'B': conn.no_direct = 1; break;
		case 'E': conn.ext4_meta = 1; break;
		case 'N':
			conn.root_id = strtoull(optarg, NULL, 0);
			if (!conn.root_id)
				return 2;
			break;
		case 'P': shim = optarg; break;
		case 'p': no_shim = 1; break;
		case 'c':
			if (parse_size(optarg, &pc))
				return 2;
			break;
		case 't': conn.timeout_ms = atoi(optarg); break;
		case 'l': server_log = optarg; break;
		case 'e': export = optarg; break;
		case 'Z':
			conn.crash_after = strtoull(optarg, NULL, 0);
			if (!conn.crash_after)
				return 2;
			break;
		case 'I': expect_iomap = 1; break;
		case 'x': stats = 1; break;
		case 'X': stats = 0; break;
		case 'v': conn.verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	conn.pagecache_limit = pc;
	if (optind >= argc || (!nscripts && !do_random && !stream && !walk && !randio)) {
		usage(stderr);
		return 2;
	}
	if (nfiles < 1 || maxsize < 4096 || nops < 0) {
		fprintf(stderr, "kmodel: bad random-mode parameters\n");
		return 2;
	}
	if (!shim && !no_shim) {
		ssize_t n = readlink("/proc/self/exe", shimbuf, sizeof(shimbuf) - 16);

		if (n > 0) {
			shimbuf[n] = 0;
			strcat(dirname(shimbuf), "/shim.so");
			if (access(shimbuf, R_OK) == 0)
				shim = shimbuf;
		}
	}
	if (no_shim)
		shim = NULL;
	signal(SIGPIPE, SIG_IGN);

	t0 = km_now_ns();
	if (km_spawn(&conn, argv + optind, shim, server_log))
		return 2;
	if (km_init(&conn)) {
		failed = 1;
		goto teardown;
	}
	if (expect_iomap && !conn.iomap) {
		fprintf(stderr, "kmodel: iomap was not negotiated\n");
		failed = 1;
		goto teardown;
	}
	for (i = 0; i < nscripts && !failed; i++) {
		FILE *f = fopen(scripts[i], "r");

		if (!f) {
			perror(scripts[i]);
			failed = 1;
			break;
		}
		if (km_run_script(f, scripts[i]))
			failed = 1;
		fclose(f);
	}
	if (!failed && do_random && km_run_random(seed, nops, nfiles, maxsize, paths))
		failed = 1;
	if (!failed && stream) {
		uint64_t size, bs = 1 << 20;
		const char *p = strchr(stream, ':');
		int direct = strstr(stream, ":direct") != NULL;

		if (parse_size(stream, &size) || (p && p[1] != 'd' && parse_size(p + 1, &bs)) ||
		    !bs || size % bs) {
			fprintf(stderr, "kmodel: bad --stream argument\n");
			failed = 1;
		} else if (km_run_stream("/kmodel.stream", size, bs, direct)) {
			failed = 1;
		}
	}
	if (!failed && walk && km_run_walk(walk[0] == 'w'))
		failed = 1;
	if (!failed && randio) {
		uint64_t size;
		const char *p = strchr(randio, ':');

		if (parse_size(randio, &size) || !p || atol(p + 1) < 1) {
			fprintf(stderr, "kmodel: bad --randio argument\n");
			failed = 1;
		} else if (km_run_randio("/kmodel.rand", size, atol(p + 1))) {
			failed = 1;
		}
	}
teardown:
	if (km_unmount(&conn) && !conn.crashed)
		failed = 1;
	km_finish(&conn, &status);
	if (WIFEXITED(status)) {
		fprintf(stderr, "kmodel: server exited with status %d\n", WEXITSTATUS(status));
		if (WEXITSTATUS(status))
			failed = 1;
	} else if (WIFSIGNALED(status) && conn.crashed &&
		   WTERMSIG(status) == SIGKILL) {
		fprintf(stderr, "kmodel: server killed by the crash\n");
	} else if (WIFSIGNALED(status)) {
		fprintf(stderr, "kmodel: server killed by signal %d\n", WTERMSIG(status));
		failed = 1;
	}
	if (conn.violations) {
		fprintf(stderr, "kmodel: %d protocol violation(s)\n", conn.violations);
		failed = 1;
	}
	if (stats)
		km_print_stats(&conn, stderr, (km_now_ns() - t0) / 1e9);
	if (export && km_export_model(export))
		failed = 1;
	fprintf(stderr, "kmodel: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
