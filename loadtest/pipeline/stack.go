package pipeline

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sensornode/sensornode/tools/devstack"
)

// UpDevstack starts the devstack in dir or reuses it when it runs. A stack
// that exists keeps its shape (port base, sizes); portBase only applies to
// a new one (0: the default).
func UpDevstack(ctx context.Context, dir string, portBase int, log *slog.Logger) (*devstack.Stack, error) {
	cfg := devstack.Config{Dir: dir, PortBase: portBase, Logger: log}
	st, err := devstack.Open(dir)
	switch {
	case err == nil:
		l := st.Layout()
		cfg.PortBase, cfg.ZooKeepers, cfg.EdgeBrokers, cfg.NoHDFS = l.Base, l.ZooKeepers, l.EdgeBrokers, !l.HDFS
	case !errors.Is(err, devstack.ErrNoStack):
		return nil, err
	}
	return devstack.Up(ctx, cfg)
}
