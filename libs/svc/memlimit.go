package svc

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
)

// MemoryLimitPercent is the share of the container's memory limit given
// to the Go runtime as its soft limit (GOMEMLIMIT): the rest is for what
// the Go runtime does not count (librdkafka's C heap, thread stacks,
// mapped binaries) and the runtime's own overshoot, so that the garbage
// collector works harder before the kernel's OOM killer steps in.
const MemoryLimitPercent = 90

// cgroupMemoryMax is cgroup v2's memory limit file, relative to the
// container's cgroup root (/sys/fs/cgroup).
const cgroupMemoryMax = "memory.max"

// Memory limit sources, as logged and exported.
const (
	MemorySourceGOMEMLIMIT = "GOMEMLIMIT"
	MemorySourceEnv        = "SENSORNODE_MEMORY_LIMIT_BYTES"
	MemorySourceCgroup     = "cgroup"
	MemorySourceNone       = "none"
)

// MemoryLimit is how a service's Go memory limit was chosen.
type MemoryLimit struct {
	// Container is the container's memory limit in bytes (0: unknown or
	// none, or GOMEMLIMIT was set and the container limit not looked at).
	Container int64
	// GoLimit is the soft limit to give the Go runtime: MemoryLimitPercent
	// of Container; 0 leaves the runtime's limit alone.
	GoLimit int64
	// Source says where the limit came from (MemorySource*).
	Source string
}

// ComputeMemoryLimit chooses the Go memory limit: nothing when GOMEMLIMIT
// is set explicitly (goMemLimitSet; the runtime already applied it), else
// MemoryLimitPercent of configured (SENSORNODE_MEMORY_LIMIT_BYTES) when it
// is positive, else of the cgroup v2 memory.max in cgroup when that file
// holds a number ("max" or no file: no limit). A memory.max that is neither
// is an error, with the MemoryLimit of no limit.
func ComputeMemoryLimit(goMemLimitSet bool, configured int64, cgroup fs.FS) (MemoryLimit, error) {
	switch {
	case goMemLimitSet:
		return MemoryLimit{Source: MemorySourceGOMEMLIMIT}, nil
	case configured > 0:
		return MemoryLimit{Container: configured, GoLimit: percentOf(configured), Source: MemorySourceEnv}, nil
	case cgroup == nil:
		return MemoryLimit{Source: MemorySourceNone}, nil
	}
	b, err := fs.ReadFile(cgroup, cgroupMemoryMax)
	if errors.Is(err, fs.ErrNotExist) {
		return MemoryLimit{Source: MemorySourceNone}, nil // cgroup v1 or not in a container
	}
	if err != nil {
		return MemoryLimit{Source: MemorySourceNone}, fmt.Errorf("cgroup %s: %w", cgroupMemoryMax, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return MemoryLimit{Source: MemorySourceNone}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return MemoryLimit{Source: MemorySourceNone}, fmt.Errorf("cgroup %s: %q is neither a positive number nor \"max\"", cgroupMemoryMax, s)
	}
	return MemoryLimit{Container: n, GoLimit: percentOf(n), Source: MemorySourceCgroup}, nil
}

func percentOf(n int64) int64 {
	if n > math.MaxInt64/MemoryLimitPercent {
		return n / 100 * MemoryLimitPercent
	}
	return n * MemoryLimitPercent / 100
}
