//go:build integration

package ingest

import (
	"errors"
	"os"
	"testing"
	"time"
)

// On real HDFS, a write whose deadline has passed is not renamed into
// place and leaves no temporary file; one within its deadline is.
func TestIntegrationHDFSWriteAtomicFenced(t *testing.T) {
	fx := newIFixtureNoTopics(t)
	cfg := fx.config()
	fs := NewHDFS(cfg.HDFS)
	t.Cleanup(func() { _ = fs.Close() })
	tmp, final := cfg.HDFS.TmpDir+"/fenced.tmp", fx.root+"/out/fenced"
	err := fs.WriteAtomic(tmp, final, []byte("late"), time.Now().Add(-time.Millisecond))
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("WriteAtomic past its deadline = %v, want ErrFenced", err)
	}
	for _, name := range []string{tmp, final} {
		if _, err := fx.fs.Stat(name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after a fenced write: stat err %v, want not found", name, err)
		}
	}
	if err := fs.WriteAtomic(tmp, final, []byte("in time"), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("WriteAtomic within its deadline = %v", err)
	}
	if b, err := fx.fs.ReadFile(final); err != nil || string(b) != "in time" {
		t.Errorf("%s = %q, %v; want %q", final, b, err, "in time")
	}
}
