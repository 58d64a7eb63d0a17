// Command cloud-ingest-hdfs stores the cloud topics in HDFS: pictures as
// JPEG files, temperature readings in rolling per node-hour files. See
// ../../README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/cloud-ingest-hdfs/internal/ingest"
)

const name = "cloud-ingest-hdfs"

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: no arguments expected (configure with SENSORNODE_* variables)", svc.ErrUsage)
	}
	cfg := ingest.DefaultConfig()
	if err := svc.LoadConfig(&cfg); err != nil {
		return err
	}
	log, err := svc.NewLogger(os.Stdout, name, cfg.LogLevel)
	if err != nil {
		return err
	}
	log.Info("starting", svc.ConfigAttrs(cfg)...)
	if unknown := svc.UnknownEnv(&cfg); len(unknown) > 0 {
		log.Warn("unknown SENSORNODE_ variables ignored (typos?)", "variables", unknown)
	}
	bi := svc.ReadBuildInfo(name)
	bi.Extra = map[string]string{"kafka": bus.DefaultBackend()}
	return ingest.Serve(ctx, cfg, log, svc.NewRegistry(bi))
}
