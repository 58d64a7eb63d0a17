//go:build integration

package devstack_test

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"path"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/hdfsretry"

	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// TestIntegrationHDFSSurvivesNameNodeRestart writes a file with
// colinmarc/hdfs, reads it back, kills the NameNode (SIGKILL), starts it
// again and reads the file back once more.
func TestIntegrationHDFSSurvivesNameNodeRestart(t *testing.T) {
	st := devstacktest.Stack(t)
	dir := devstacktest.UniquePath(t, "nn-restart")
	name := path.Join(dir, "frames.bin")
	data := make([]byte, 3<<20+12345) // several packets, one block
	_, _ = rand.NewChaCha8([32]byte{2}).Read(data)
	want := sha256.Sum256(data)

	c := devstacktest.HDFSClient(t, st)
	if err := c.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{st.NameNodeAddr()}, User: devstack.HDFSUser()})
		if err == nil {
			_ = c.RemoveAll(dir)
			c.Close()
		}
	})
	w, err := c.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := hdfsretry.Close(w, time.Second, hdfsretry.UntilDone(ctx)); err != nil {
		t.Fatalf("close: %v", err)
	}
	readBack(t, c, name, want, len(data))

	devstacktest.KillForTest(t, st, devstack.NameNodeName)
	start := time.Now()
	if err := st.Start(ctx, devstack.NameNodeName); err != nil {
		t.Fatalf("restart namenode: %v", err)
	}
	t.Logf("namenode killed and healthy again after %s", time.Since(start).Round(time.Millisecond))

	// The old client's connection died with the NameNode.
	readBack(t, devstacktest.HDFSClient(t, st), name, want, len(data))
}

func readBack(t *testing.T, c *hdfs.Client, name string, want [sha256.Size]byte, size int) {
	t.Helper()
	fi, err := c.Stat(name)
	if err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	if fi.Size() != int64(size) {
		t.Errorf("stat %s: size %d, want %d", name, fi.Size(), size)
	}
	got, err := c.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if sha256.Sum256(got) != want || len(got) != size {
		t.Errorf("read %s: %d bytes with another SHA-256 than the %d bytes written", name, len(got), size)
	}
}
