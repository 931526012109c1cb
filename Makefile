# e2fsprogs-iomap: the one entry point.
#
#   make            install build dependencies, fetch and verify the pinned
#                   upstream sources, prepare the trees with the series
#                   applied, build libfuse and both e2fsprogs configurations
#   make check      run every test suite; ends with "N passed, N failed, N skipped"
#   make prepare    (re)create build/src/{e2fsprogs,libfuse} as git trees
#   make export     write the commits of build/src/* back into patches/
#   make series     both series as mail-ready patches with cover letters,
#                   checked with checkpatch (build/series/)
#   make bench      the benchmarks (bench/run; BENCH_MODE=quick|full)
#   make deb        Debian packages built from the series (build/deb/),
#                   with bookworm's tools (see scripts/deb)
#   make stress     the long reliability runs (full corrupt-image sweeps,
#                   classic and iomap; 100,000-operation storms and crashes;
#                   100,000-operation fsx runs on real mounts)
#   make clean      remove build/ (the download cache in cache/ stays)

.PHONY: all deps fetch prepare build build-libfuse build-stock build-iomap \
	build-kmodel check export series bench deb stress clean

all: build

deps:
	scripts/deps

prepare: deps
	scripts/prepare e2fsprogs
	scripts/prepare libfuse

build: prepare
	$(MAKE) build-libfuse
	$(MAKE) build-stock build-iomap
	$(MAKE) build-kmodel

build-libfuse:
	scripts/build libfuse

build-stock:
	scripts/build stock

build-iomap: build-libfuse
	scripts/build iomap

# kmodel builds against the libfuse series' headers where it needs them.
build-kmodel:
	if [ -f kmodel/Makefile ]; then $(MAKE) -C kmodel; fi

check:
	scripts/check

export:
	scripts/export e2fsprogs
	scripts/export libfuse

series:
	scripts/series

bench:
	bench/run

deb: prepare
	scripts/deb

stress:
	scripts/sweep
	scripts/sweep --iomap --real 0 --server build/iomap/misc/fuse2fs
	STORM_OPS=100000 CRASH_KILLS=50 tests/suite-storm
	FSX_OPS=100000 tests/suite-fsx
	scripts/sweep --server build/stock/fuse4fs/fuse4fs
	scripts/sweep --iomap --real 0 --server build/iomap/fuse4fs/fuse4fs

clean:
	rm -rf build
