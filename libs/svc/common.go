package svc

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Common are the settings every service has: SENSORNODE_LOG_LEVEL,
// SENSORNODE_ADMIN_ADDR, SENSORNODE_ADMIN_PPROF_ENABLED,
// SENSORNODE_SHUTDOWN_TIMEOUT and SENSORNODE_MEMORY_LIMIT_BYTES. A service embeds
// it (anonymously, so the names keep no extra prefix) in its Config, and
// its DefaultConfig sets the defaults with DefaultCommon: they differ per
// service (each has its own admin port), so the fields carry no default
// tags.
type Common struct {
	LogLevel  string `envconfig:"LOG_LEVEL"`
	AdminAddr string `envconfig:"ADMIN_ADDR"`
	// AdminPprofEnabled serves the Go profiles (net/http/pprof) under
	// /debug/pprof/ on the admin server. Off by default: a CPU profile or
	// trace costs CPU while it runs and the heap profile shows internals.
	AdminPprofEnabled bool `envconfig:"ADMIN_PPROF_ENABLED"`
	// ShutdownTimeout bounds the graceful shutdown; keep it below the
	// pod's terminationGracePeriodSeconds.
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT"`
	// MemoryLimitBytes is the container's memory limit (the chart sets it
	// from resources.limits.memory); 0: read the cgroup's memory.max.
	// Start sets the Go memory limit to 90% of it unless GOMEMLIMIT is
	// set (see MemoryLimit).
	MemoryLimitBytes int64 `envconfig:"MEMORY_LIMIT_BYTES"`
}

// DefaultCommon is Common with log level info, the given admin address and
// a 20 s shutdown timeout.
func DefaultCommon(adminAddr string) Common {
	return Common{LogLevel: "info", AdminAddr: adminAddr, ShutdownTimeout: 20 * time.Second}
}

// common lets Start find the block in any Config that embeds it.
func (c *Common) common() *Common { return c }

// Check adds the block's problems to p.
func (c *Common) Check(p *Problems) {
	if _, err := NewLogger(nil, "", c.LogLevel); err != nil {
		p.Addf("SENSORNODE_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.AdminAddr == "" {
		p.Addf("SENSORNODE_ADMIN_ADDR is empty")
	}
	if c.ShutdownTimeout <= 0 {
		p.Addf("SENSORNODE_SHUTDOWN_TIMEOUT %v must be positive", c.ShutdownTimeout)
	}
	if c.MemoryLimitBytes < 0 {
		p.Addf("SENSORNODE_MEMORY_LIMIT_BYTES %d must not be negative (0: from the cgroup)", c.MemoryLimitBytes)
	}
}

// Config is what Start loads: a Validator that embeds Common.
type Config interface {
	Validator
	common() *Common
}

// Renamer is a Config whose variables were renamed: RenamedEnv maps each
// old name to its new one (both without the SENSORNODE_ prefix). For one
// release the old name is still read when the new one is unset, with a
// warning at start; both set to different values is a configuration error.
type Renamer interface {
	RenamedEnv() map[string]string
}

// applyRenamed sets each new variable from its old name for the duration
// of a load and returns the warnings to log and a function that undoes
// the change.
func applyRenamed(cfg any) (warnings []string, restore func(), err error) {
	r, ok := cfg.(Renamer)
	if !ok {
		return nil, func() {}, nil
	}
	renamed := r.RenamedEnv()
	olds := make([]string, 0, len(renamed))
	for o := range renamed {
		olds = append(olds, o)
	}
	sort.Strings(olds)
	var set []string
	var problems Problems
	for _, o := range olds {
		oldKey, newKey := EnvPrefix+"_"+o, EnvPrefix+"_"+renamed[o]
		ov, oldSet := os.LookupEnv(oldKey)
		if !oldSet {
			continue
		}
		nv, newSet := os.LookupEnv(newKey)
		switch {
		case !newSet:
			os.Setenv(newKey, ov)
			set = append(set, newKey)
			warnings = append(warnings, fmt.Sprintf("%s is deprecated and will be removed in the next release: use %s", oldKey, newKey))
		case nv != ov:
			problems.Addf("%s=%q and its deprecated old name %s=%q are both set: keep %s only", newKey, nv, oldKey, ov, newKey)
		default:
			warnings = append(warnings, fmt.Sprintf("%s is deprecated and will be removed in the next release: remove it, %s is set", oldKey, newKey))
		}
	}
	restore = func() {
		for _, k := range set {
			os.Unsetenv(k)
		}
	}
	if err := problems.Err(); err != nil {
		restore()
		return nil, func() {}, err
	}
	return warnings, restore, nil
}

// renamedKnown lists the old names of cfg's renamed variables, with prefix.
func renamedKnown(cfg any) []string {
	r, ok := cfg.(Renamer)
	if !ok {
		return nil
	}
	var out []string
	for o := range r.RenamedEnv() {
		out = append(out, EnvPrefix+"_"+o)
	}
	return out
}

// NoArgs is the argument check of a service that takes none: configuration
// comes from SENSORNODE_* variables.
func NoArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: no arguments expected, got %q (configure with SENSORNODE_* variables)", ErrUsage,
			strings.Join(args, " "))
	}
	return nil
}
