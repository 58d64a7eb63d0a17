// Package zktest gives master-watcher's integration tests what they need
// around devstack's ZooKeeper ensemble: a view path of their own that is
// deleted when they end, and sessions to look at it with.
package zktest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/sensornode/sensornode/libs/zkconn"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// Log logs to stderr with go test -v, else nowhere.
func Log() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// UniqueRoot is a view path no other test uses, <unique>/masters under
// /sensornode-test; the <unique> tree is deleted when the test ends.
func UniqueRoot(t testing.TB, servers []string) string {
	t.Helper()
	base := "/sensornode-test/" + devstacktest.UniqueTopic(t, "mw")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := zkconn.Connect(ctx, servers, 10*time.Second, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Logf("cleanup %s: %v", base, err)
			return
		}
		defer conn.Close()
		if err := deleteTree(conn, base); err != nil {
			t.Logf("cleanup %s: %v", base, err)
		}
	})
	return base + "/masters"
}

// deleteTree deletes znode p and everything below it; a p that does not
// exist is no error.
func deleteTree(conn *zk.Conn, p string) error {
	children, _, err := conn.Children(p)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, c := range children {
		if err := deleteTree(conn, path.Join(p, c)); err != nil {
			return err
		}
	}
	if err := conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	return nil
}

// Session opens a session of its own, closed when the test ends: an
// observer that reads what the code under test writes.
func Session(t testing.TB, servers []string) *zk.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := zkconn.Connect(ctx, servers, 10*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}
