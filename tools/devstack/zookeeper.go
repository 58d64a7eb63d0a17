package devstack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sensornode/sensornode/libs/zksrvr"
)

// zkServing asks a ZooKeeper server for its mode with the srvr four-letter
// word; it fails unless the server is in a quorum (leader or follower).
func zkServing(ctx context.Context, address string) (string, error) {
	mode, err := ZooKeeperMode(ctx, address)
	if err != nil {
		return "", err
	}
	if mode != "leader" && mode != "follower" {
		return mode, fmt.Errorf("mode %q, want leader or follower", mode)
	}
	return mode, nil
}

// ZooKeeperMode returns the Mode line of a ZooKeeper server's srvr answer
// (zksrvr.Mode, within 3 s): leader, follower, observer or standalone. A
// server outside a quorum answers without a mode; that is an error.
func ZooKeeperMode(ctx context.Context, address string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	mode, err := zksrvr.Mode(ctx, address)
	if err != nil {
		return "", fmt.Errorf("srvr: %w", err)
	}
	return mode, nil
}

// checkEnsemble requires every member in the quorum and exactly one leader.
func (s *Stack) checkEnsemble(ctx context.Context, st *state) error {
	l := st.layout()
	leaders := 0
	for i := 1; i <= st.ZooKeepers; i++ {
		mode, err := zkServing(ctx, addr(l.ZooKeeperClient(i)))
		if err != nil {
			return checkErr(ZooKeeperName(i), err)
		}
		if mode == "leader" {
			leaders++
		}
	}
	if leaders != 1 {
		return &CheckError{Err: fmt.Errorf("zookeeper: %d leaders, want 1", leaders)}
	}
	return nil
}

// nopLogger silences go-zookeeper, which logs to the standard logger.
type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// withZK connects to the ensemble for the duration of f. When ctx is done
// the connection closes, which fails calls still waiting in f.
func withZK(ctx context.Context, servers []string, f func(*zk.Conn) error) error {
	conn, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogger(nopLogger{}), zk.WithLogInfo(false))
	if err != nil {
		return err
	}
	done := make(chan struct{})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		select {
		case <-ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	defer func() {
		close(done)
		<-closed
		conn.Close()
	}()
	return f(conn)
}

// RegisteredBrokers lists the broker ids registered under chroot
// (EdgeChroot, CloudChroot), sorted.
func (s *Stack) RegisteredBrokers(ctx context.Context, chroot string) ([]int, error) {
	var ids []int
	err := withZK(ctx, s.ZooKeeperServers(), func(c *zk.Conn) error {
		var err error
		ids, err = brokerIDs(c, chroot)
		return err
	})
	return ids, err
}

func brokerIDs(c *zk.Conn, chroot string) ([]int, error) {
	children, _, err := c.Children(chroot + "/brokers/ids")
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s/brokers/ids: %w", chroot, err)
	}
	ids := make([]int, 0, len(children))
	for _, c := range children {
		id, err := strconv.Atoi(c)
		if err != nil {
			return nil, fmt.Errorf("broker id %q: %w", c, err)
		}
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids, nil
}

// checkRegistrations requires exactly the configured brokers in both
// chroots.
func (s *Stack) checkRegistrations(ctx context.Context, st *state) error {
	edge := make([]int, st.EdgeBrokers)
	for i := range edge {
		edge[i] = i + 1
	}
	return withZK(ctx, st.layout().ZooKeeperServers(), func(c *zk.Conn) error {
		for _, want := range []struct {
			chroot string
			ids    []int
			name   func(int) string
		}{
			{EdgeChroot, edge, EdgeKafkaName},
			{CloudChroot, []int{1}, func(int) string { return CloudKafkaName }},
		} {
			got, err := brokerIDs(c, want.chroot)
			if err != nil {
				return checkErr("", err)
			}
			for _, id := range want.ids {
				if !slices.Contains(got, id) {
					return &CheckError{Process: want.name(id), Err: fmt.Errorf("broker %d not registered in %s/brokers/ids (have %v)", id, want.chroot, got)}
				}
			}
			if len(got) != len(want.ids) {
				return &CheckError{Err: fmt.Errorf("%s/brokers/ids = %v, want %v", want.chroot, got, want.ids)}
			}
		}
		return nil
	})
}

// checkRegistered requires the given broker ids under chroot.
func (s *Stack) checkRegistered(ctx context.Context, st *state, chroot string, ids []int, process string) error {
	return withZK(ctx, st.layout().ZooKeeperServers(), func(c *zk.Conn) error {
		got, err := brokerIDs(c, chroot)
		if err != nil {
			return checkErr(process, err)
		}
		for _, id := range ids {
			if !slices.Contains(got, id) {
				return &CheckError{Process: process, Err: fmt.Errorf("broker %d not registered in %s/brokers/ids", id, chroot)}
			}
		}
		return nil
	})
}

// waitUnregistered waits until a broker's registration of an earlier, killed
// process has expired with its ZooKeeper session: a broker that starts
// before that fails on "node already exists".
func (s *Stack) waitUnregistered(ctx context.Context, st *state, chroot string, id int) error {
	path := fmt.Sprintf("%s/brokers/ids/%d", chroot, id)
	return withZK(ctx, st.layout().ZooKeeperServers(), func(c *zk.Conn) error {
		for {
			ok, _, ev, err := c.ExistsW(path)
			if err != nil {
				return fmt.Errorf("watch %s: %w", path, err)
			}
			if !ok {
				return nil
			}
			select {
			case <-ev:
			case <-ctx.Done():
				return fmt.Errorf("%s still registered: %w", path, context.Cause(ctx))
			}
		}
	})
}
