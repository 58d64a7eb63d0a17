// Command forwarder-bench measures the edge-forwarder's per-picture time
// (edge consumer hand-over to cloud acknowledgement, one picture at a time)
// at 320x188, 640x480 and 1280x720 against running edge and cloud clusters,
// and prints a Markdown table laid out like the thesis's Table 5.2.
//
//	eval "$(go run ./tools/devstack/cmd/devstack env)"
//	go run ./services/edge-forwarder/cmd/forwarder-bench -n 30
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/edge-forwarder/internal/forwarder"
	"github.com/sensornode/sensornode/services/edge-forwarder/internal/fwdbench"
)

func main() {
	svc.Main("forwarder-bench", run, map[string]string{"kafka": bus.DefaultBackend()})
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("forwarder-bench", flag.ContinueOnError)
	edge := fs.String("edge", os.Getenv("SENSORNODE_DEVSTACK_EDGE_BROKERS"), "edge bootstrap servers (default $SENSORNODE_DEVSTACK_EDGE_BROKERS)")
	cloud := fs.String("cloud", os.Getenv("SENSORNODE_DEVSTACK_CLOUD_BROKERS"), "cloud bootstrap servers (default $SENSORNODE_DEVSTACK_CLOUD_BROKERS)")
	n := fs.Int("n", 30, "pictures measured per size (the thesis used 10)")
	warmup := fs.Int("warmup", 3, "pictures sent first and not measured")
	edgeRF := fs.Int("edge-rf", 3, "replication factor of the edge topic")
	forms := fs.String("forms", forwarder.FormPassThrough+","+forwarder.FormJSON, "forwarder forms to measure")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", svc.ErrUsage, err)
	}
	if *edge == "" || *cloud == "" || *n < 1 {
		return fmt.Errorf("%w: need -edge and -cloud (or `eval \"$(devstack env)\"`) and -n >= 1", svc.ErrUsage)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	run := "fwdbench-" + hex.EncodeToString(suffix[:])
	edgeCfg := bus.Config{Brokers: strings.Split(*edge, ","), ClientID: "forwarder-bench"}
	cloudCfg := bus.Config{Brokers: strings.Split(*cloud, ","), ClientID: "forwarder-bench"}

	results := map[string][]fwdbench.Sample{}
	var rows []string
	for _, form := range strings.Split(*forms, ",") {
		edgeTopic, cloudTopic := run+"-"+form+"-node1", run+"-"+form+"-cameraData"
		if err := ensure(ctx, edgeCfg, edgeTopic, *edgeRF); err != nil {
			return err
		}
		if err := ensure(ctx, cloudCfg, cloudTopic, 1); err != nil {
			return err
		}
		s, err := fwdbench.Run(ctx, fwdbench.Setup{Edge: edgeCfg, Cloud: cloudCfg, EdgeTopic: edgeTopic, CloudTopic: cloudTopic, Form: form},
			fwdbench.Sizes, *n, *warmup)
		if err != nil {
			return fmt.Errorf("%s: %w", form, err)
		}
		row := "this forwarder, " + form
		if form == forwarder.FormPassThrough {
			row += " (default: bytes untouched)"
		} else if form == forwarder.FormJSON {
			row += " (binary -> thesis JSON, base64)"
		}
		rows = append(rows, row)
		results[row] = s
	}
	fmt.Fprintf(stdout, "<!-- forwarder-bench -n %d -warmup %d, %s, %s -->\n", *n, *warmup, time.Now().UTC().Format(time.RFC3339), svc.ReadBuildInfo("forwarder-bench").Platform)
	fmt.Fprint(stdout, fwdbench.Table(rows, results, []string{"4.6", "21", "57.9"}))
	return nil
}

func ensure(ctx context.Context, cfg bus.Config, topic string, rf int) error {
	a, err := bus.NewAdmin(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return a.EnsureTopics(tctx, []bus.TopicSpec{{Name: topic, Partitions: 1, ReplicationFactor: rf}})
}
