# e2fsprogs-iomap: the one entry point.
#
#   make            install build dependencies, fetch and verify the pinned
#                   upstream sources, prepare the trees with the series
#                   applied, build libfuse and both e2fsprogs configurations
#   make check      run every test suite; ends with "N passed, N failed, N skipped"
#   make prepare    (re)create build/src/{e2fsprogs,libfuse} as git trees
#   make export     write the commits of build/src/* back into patches/
#   make clean      remove build/ (the download cache in cache/ stays)

.PHONY: all deps fetch prepare build build-libfuse build-stock build-iomap \
	check export clean

all: build

deps:
	scripts/deps

prepare: deps
	scripts/prepare e2fsprogs
	scripts/prepare libfuse

build: prepare
	$(MAKE) build-libfuse
	$(MAKE) build-stock build-iomap

build-libfuse:
	scripts/build libfuse

build-stock:
	scripts/build stock

build-iomap: build-libfuse
	scripts/build iomap

check:
	scripts/check

export:
	scripts/export e2fsprogs
	scripts/export libfuse

clean:
	rm -rf build
