// Package zkconn opens go-zookeeper connections that log through slog: the
// one way master-watcher's packages (the view publisher, status,
// wait-zookeeper) and the viewer's health page connect to ZooKeeper.
package zkconn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// Dial starts a connection; dialer and cb may be nil. go-zookeeper's own
// messages go to log at debug level.
func Dial(servers []string, sessionTimeout time.Duration, log *slog.Logger, dialer zk.Dialer, cb zk.EventCallback) (*zk.Conn, <-chan zk.Event, error) {
	if dialer == nil {
		dialer = net.DialTimeout
	}
	conn, events, err := zk.Connect(servers, sessionTimeout, zk.WithLogger(logger{log}), zk.WithLogInfo(false),
		zk.WithDialer(dialer), zk.WithEventCallback(cb))
	if err != nil {
		return nil, nil, fmt.Errorf("zookeeper %s: %w", strings.Join(servers, ","), err)
	}
	return conn, events, nil
}

// Connect opens a session and waits until it is established or ctx is done.
func Connect(ctx context.Context, servers []string, sessionTimeout time.Duration, log *slog.Logger) (*zk.Conn, error) {
	conn, events, err := Dial(servers, sessionTimeout, log, nil, nil)
	if err != nil {
		return nil, err
	}
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return conn, nil
			}
		case <-ctx.Done():
			conn.Close()
			return nil, fmt.Errorf("zookeeper %s: no session: %w", strings.Join(servers, ","), context.Cause(ctx))
		}
	}
}

// logger sends go-zookeeper's own messages to slog at debug level.
type logger struct{ log *slog.Logger }

func (l logger) Printf(format string, args ...any) {
	l.log.Debug("zookeeper client", "detail", fmt.Sprintf(format, args...))
}
