// Command producer-bench measures the camera producer's per-picture time
// from file ready to delivery acknowledgement (acks=all, replication factor
// 3) at the thesis' picture sizes and prints a Markdown table laid out like
// the thesis' Table 5.1.
//
//	eval "$(go run ./tools/devstack/cmd/devstack env)"   # exports SENSORNODE_DEVSTACK_EDGE_BROKERS
//	go run ./services/camera-producer/cmd/producer-bench -n 20
//	go run ./services/camera-producer/cmd/producer-bench -brokers host:9092,host2:9092 -n 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/camera-producer/internal/bench"
)

func main() {
	svc.Main("producer-bench", run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("producer-bench", flag.ContinueOnError)
	brokers := fs.String("brokers", os.Getenv("SENSORNODE_DEVSTACK_EDGE_BROKERS"),
		"edge bootstrap servers, comma separated (default $SENSORNODE_DEVSTACK_EDGE_BROKERS, as `devstack env` exports)")
	n := fs.Int("n", 20, "measured pictures per size (the thesis used 10)")
	warmup := fs.Int("warmup", 5, "unmeasured pictures first")
	forms := fs.String("forms", "json,binary", "wire forms to measure")
	verbose := fs.Bool("v", false, "log the service")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", svc.ErrUsage, err)
	}
	if *n < 1 {
		return fmt.Errorf("%w: -n must be >= 1", svc.ErrUsage)
	}
	bs := *brokers
	if bs == "" {
		return fmt.Errorf("%w: no -brokers and no SENSORNODE_DEVSTACK_EDGE_BROKERS (eval \"$(go run ./tools/devstack/cmd/devstack env)\")", svc.ErrUsage)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	rows := map[string][]bench.Stats{}
	var order []string
	for _, form := range strings.Split(*forms, ",") {
		stats, err := bench.Run(ctx, bench.Options{Brokers: strings.Split(bs, ","), Topic: "producer-bench-" + form, Form: form,
			Sizes: bench.Sizes, N: *n, Warmup: *warmup, Log: log})
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("%s form: %w", form, err)
		}
		name := fmt.Sprintf("camera-producer, %s form, acks=all, RF 3", form)
		rows[name] = stats
		order = append(order, name)
	}
	fmt.Fprintf(stdout, "%s\n%s\nmachine: %s/%s, %d CPUs, Go %s, kafka backend %s, brokers %s\n",
		bench.Markdown(rows, order), bench.Details(rows, order), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), bus.DefaultBackend(), bs)
	return nil
}
