package svc

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// errFS fails every open with err.
type errFS struct{ err error }

func (e errFS) Open(string) (fs.File, error) { return nil, e.err }

func memMax(s string) fs.FS { return fstest.MapFS{"memory.max": {Data: []byte(s)}} }

func TestComputeMemoryLimit(t *testing.T) {
	tests := []struct {
		name          string
		goMemLimitSet bool
		configured    int64
		cgroup        fs.FS
		want          MemoryLimit
		wantErr       string
	}{
		{name: "GOMEMLIMIT wins", goMemLimitSet: true, configured: 128 << 20, cgroup: memMax("134217728\n"),
			want: MemoryLimit{Source: MemorySourceGOMEMLIMIT}},
		{name: "configured", configured: 100 << 20, cgroup: memMax("max\n"),
			want: MemoryLimit{Container: 100 << 20, GoLimit: 94371840, Source: MemorySourceEnv}},
		{name: "configured beats cgroup", configured: 1000, cgroup: memMax("2000\n"),
			want: MemoryLimit{Container: 1000, GoLimit: 900, Source: MemorySourceEnv}},
		{name: "cgroup number", cgroup: memMax("134217728\n"),
			want: MemoryLimit{Container: 134217728, GoLimit: 120795955, Source: MemorySourceCgroup}},
		{name: "cgroup max", cgroup: memMax("max\n"), want: MemoryLimit{Source: MemorySourceNone}},
		{name: "no cgroup file", cgroup: fstest.MapFS{}, want: MemoryLimit{Source: MemorySourceNone}},
		{name: "no cgroup fs", want: MemoryLimit{Source: MemorySourceNone}},
		{name: "huge", configured: math.MaxInt64,
			want: MemoryLimit{Container: math.MaxInt64, GoLimit: math.MaxInt64 / 100 * 90, Source: MemorySourceEnv}},
		{name: "cgroup junk", cgroup: memMax("lots\n"), want: MemoryLimit{Source: MemorySourceNone},
			wantErr: `cgroup memory.max: "lots" is neither a positive number nor "max"`},
		{name: "cgroup zero", cgroup: memMax("0"), want: MemoryLimit{Source: MemorySourceNone},
			wantErr: `"0" is neither`},
		{name: "cgroup unreadable", cgroup: errFS{fs.ErrPermission}, want: MemoryLimit{Source: MemorySourceNone},
			wantErr: "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ComputeMemoryLimit(tt.goMemLimitSet, tt.configured, tt.cgroup)
			if got != tt.want {
				t.Errorf("ComputeMemoryLimit() = %+v, want %+v", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ComputeMemoryLimit() error = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ComputeMemoryLimit() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := ComputeMemoryLimit(false, 0, errFS{fs.ErrPermission}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("ComputeMemoryLimit(unreadable) error = %v, want fs.ErrPermission in its chain", err)
	}
}

// applyMemoryLimit sets the runtime's limit, logs it and exports it.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	var out bytes.Buffer
	reg := prometheus.NewRegistry()
	applyMemoryLimit(MemoryLimit{Container: 1000 << 20, GoLimit: 900 << 20, Source: MemorySourceEnv},
		slog.New(slog.NewJSONHandler(&out, nil)), reg)
	if got := debug.SetMemoryLimit(-1); got != 900<<20 {
		t.Errorf("runtime memory limit = %d, want %d", got, 900<<20)
	}
	want := `
# HELP sensornode_container_memory_limit_bytes The container memory limit the Go limit was derived from (SENSORNODE_MEMORY_LIMIT_BYTES or the cgroup's memory.max); 0: unknown or not used.
# TYPE sensornode_container_memory_limit_bytes gauge
sensornode_container_memory_limit_bytes 1.048576e+09
# HELP sensornode_go_memory_limit_bytes The Go runtime's soft memory limit (GOMEMLIMIT or a share of the container's limit); 0: none.
# TYPE sensornode_go_memory_limit_bytes gauge
sensornode_go_memory_limit_bytes 9.437184e+08
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	for _, w := range []string{`"msg":"go memory limit"`, `"source":"SENSORNODE_MEMORY_LIMIT_BYTES"`, `"go_limit_bytes":943718400`} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, out.String())
		}
	}
}
