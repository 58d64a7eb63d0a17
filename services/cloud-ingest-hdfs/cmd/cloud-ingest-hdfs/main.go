// Command cloud-ingest-hdfs stores the cloud topics in HDFS: pictures as
// JPEG files, temperature readings in rolling per node-hour files. See
// ../../README.md.
package main

import (
	"context"
	"io"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/cloud-ingest-hdfs/internal/ingest"
)

const name = "cloud-ingest-hdfs"

func main() {
	svc.Main(name, run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if err := svc.NoArgs(args); err != nil {
		return err
	}
	cfg := ingest.DefaultConfig()
	log, reg, err := svc.Start(name, &cfg, stdout, map[string]string{"kafka": bus.DefaultBackend()})
	if err != nil {
		return err
	}
	return ingest.Run(ctx, &cfg, log, reg, ingest.Options{})
}
