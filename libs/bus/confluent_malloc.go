//go:build cgo && (amd64 || arm64) && !sensornode_noconfluent

package bus

/*
#include <malloc.h>

// sn_limit_arenas caps glibc's malloc arenas at n; 0 where the C library
// has no such setting (musl: the static amd64 image).
static int sn_limit_arenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	(void)n;
	return 0;
#endif
}
*/
import "C"

import (
	"os"
	"sync"
)

// mallocArenas is glibc's arena cap for a process with a librdkafka
// client. glibc gives each thread that allocates concurrently an arena of
// its own (up to 8 per core) and keeps what was freed in it; librdkafka
// has a thread per broker plus its main and background threads, and a
// drain's fetch buffers freed on one thread stay resident in that
// thread's arena. Measured on the edge-forwarder's drain
// (loadtest/results/20261207-forwarder-memory): 2 arenas cut the peak by
// about 18 MiB at the same drain rate.
const mallocArenas = 2

var limitArenasOnce sync.Once

// limitMallocArenas applies mallocArenas once per process, before the
// first librdkafka client starts its threads, unless MALLOC_ARENA_MAX is
// set (glibc read it at start: the operator's choice wins).
func limitMallocArenas() {
	limitArenasOnce.Do(func() {
		if _, ok := os.LookupEnv("MALLOC_ARENA_MAX"); ok {
			return
		}
		C.sn_limit_arenas(C.int(mallocArenas))
	})
}
