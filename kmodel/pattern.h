/*
 * pattern.h - kmodel's data pattern, shared with the programs that must
 * write or expect the same bytes (tests/crash/crashload.c).
 */
#ifndef KM_PATTERN_H
#define KM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* The bytes a write with this seed puts at file offset off. */
static inline void pattern(uint8_t *buf, uint64_t off, size_t len, uint64_t seed)
{
	size_t i = 0;

	while (i < len) {
		uint64_t o = off + i, w = mix((o >> 3) ^ (seed << 40) ^ seed);
		size_t b = o & 7;

		for (; b < 8 && i < len; b++, i++)
			buf[i] = (uint8_t)(w >> (8 * b));
	}
}

#endif
