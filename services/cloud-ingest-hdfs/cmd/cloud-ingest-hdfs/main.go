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
	log, reg, err := svc.Start(name, &cfg, &cfg.LogLevel, os.Stdout, map[string]string{"kafka": bus.DefaultBackend()})
	if err != nil {
		return err
	}
	return ingest.Serve(ctx, cfg, log, reg)
}
