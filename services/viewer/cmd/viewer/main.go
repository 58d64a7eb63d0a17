// Command viewer serves the stored pictures, temperature readings and the
// pipeline's health to a browser; `viewer hash-password USER` makes a
// users-file line. See ../../README.md.
package main

import (
	"context"
	"io"
	"os"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/viewer/internal/viewer"
)

func main() {
	svc.Main(viewer.Name, run, nil)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "hash-password" {
		return viewer.HashPassword(args[1:], os.Stdin, stdout)
	}
	if err := svc.NoArgs(args); err != nil {
		return err
	}
	cfg := viewer.DefaultConfig()
	log, reg, err := svc.Start(viewer.Name, &cfg, stdout, nil)
	if err != nil {
		return err
	}
	return viewer.Run(ctx, &cfg, log, reg, viewer.Options{})
}
