// Package fwdbench measures the forwarder's per-picture time, the figure of
// the thesis's Table 5.2: from the moment the edge consumer hands a
// picture over to the moment the cloud cluster acknowledged it (acks=all),
// one picture at a time. It drives a real forwarder against real brokers.
package fwdbench

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/services/edge-forwarder/internal/forwarder"
)

// Sizes are the picture sizes of the thesis's tables.
var Sizes = []image.Point{jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size1280x720}

// Setup says where to measure. EdgeTopic (one partition) and CloudTopic
// must exist.
type Setup struct {
	Edge       bus.Config
	Cloud      bus.Config
	EdgeTopic  string
	CloudTopic string
	Form       string // forwarder.FormPassThrough or forwarder.FormJSON
	Log        *slog.Logger
}

// Sample is the measured per-picture times of one size.
type Sample struct {
	Size      image.Point
	Bytes     int // mean JPEG size
	Durations []time.Duration
}

// Mean is the mean per-picture time.
func (s Sample) Mean() time.Duration {
	var sum time.Duration
	for _, d := range s.Durations {
		sum += d
	}
	return sum / time.Duration(max(1, len(s.Durations)))
}

// Quantile is the q-quantile (0..1) of the per-picture times.
func (s Sample) Quantile(q float64) time.Duration {
	if len(s.Durations) == 0 {
		return 0
	}
	d := slices.Clone(s.Durations)
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

type ack struct {
	received, acked time.Time
}

// Run starts a forwarder from EdgeTopic to CloudTopic and sends, for each
// size, warmup then n pictures one at a time, each produced only after the
// previous one was acknowledged by the cloud.
func Run(ctx context.Context, s Setup, sizes []image.Point, n, warmup int) ([]Sample, error) {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	cfg := forwarder.DefaultConfig()
	cfg.LogLevel, cfg.ShutdownTimeout = "warn", 10*time.Second
	cfg.Edge.Config, cfg.Cloud.Config = s.Edge, s.Cloud
	cfg.Edge.GroupID = "fwdbench-" + s.EdgeTopic
	cfg.Edge.SessionTimeout, cfg.Edge.MaxFetchBytes, cfg.Edge.QueueMaxBytes = 10*time.Second, 8<<20, 16<<20
	cfg.Cloud.Linger, cfg.Cloud.MaxMessageBytes, cfg.Cloud.QueueMaxBytes = 0, 8<<20, 32<<20
	if cfg.Edge.ClientID == "" {
		cfg.Edge.ClientID = "fwdbench"
	}
	// Temperatures are not measured: a pattern that matches no topic.
	cfg.PictureTopics, cfg.TemperatureTopics = []string{s.EdgeTopic}, []string{"^" + regexp.QuoteMeta(s.EdgeTopic) + "-no-temperature$"}
	cfg.CloudPictureTopic, cfg.CloudTemperatureTopic = s.CloudTopic, s.CloudTopic
	cfg.Form, cfg.MaxPictureBytes = s.Form, 8<<20
	cfg.MaxInflightBytes, cfg.MaxInflightMessages = 8<<20, 1000
	cfg.CommitInterval, cfg.RevokeTimeout, cfg.RetryMaxInterval, cfg.CheckInterval = time.Second, 10*time.Second, time.Second, 5*time.Second
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	acks := make(chan ack, 16)
	reg := prometheus.NewRegistry()
	prod, err := bus.NewProducer(cfg.Cloud, bus.WithLogger(s.Log))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	f, err := forwarder.New(cfg, prod, s.Log, forwarder.NewMetrics(reg), forwarder.Hooks{
		Acked: func(_ string, _ int, received, acked time.Time) { acks <- ack{received, acked} },
	})
	if err != nil {
		return nil, err
	}
	ec := cfg.EdgeConsumerConfig()
	ec.Rebalance = f.Rebalance()
	cons, err := bus.NewConsumer(ec, bus.WithLogger(s.Log))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(rctx, cons) }()
	defer func() {
		cancel()
		<-done
	}()

	edge, err := bus.NewProducer(bus.ProducerConfig{Config: s.Edge, MaxMessageBytes: 8 << 20, QueueMaxBytes: 32 << 20}, bus.WithLogger(s.Log))
	if err != nil {
		return nil, err
	}
	defer edge.Close()

	var out []Sample
	seq := 0
	for _, size := range sizes {
		pics, err := pictures(size, warmup+n)
		if err != nil {
			return nil, err
		}
		smp := Sample{Size: size}
		for i, jpeg := range pics {
			seq++
			p := messages.NewPicture("C1", "node1", time.Unix(1_700_000_000, 0).Add(time.Duration(seq)*time.Second), jpeg)
			enc, err := messages.EncodePicture(p, messages.FormBinary)
			if err != nil {
				return nil, err
			}
			if _, err := edge.Publish(ctx, bus.FromEncoded(s.EdgeTopic, enc)); err != nil {
				return nil, fmt.Errorf("produce to the edge: %w", err)
			}
			select {
			case a := <-acks:
				if i >= warmup {
					smp.Durations = append(smp.Durations, a.acked.Sub(a.received))
					smp.Bytes += len(jpeg)
				}
			case err := <-done:
				return nil, fmt.Errorf("forwarder stopped: %w", err)
			case <-time.After(time.Minute):
				return nil, errors.New("no cloud acknowledgement within a minute")
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		smp.Bytes /= max(1, n)
		out = append(out, smp)
	}
	return out, nil
}

// pictures returns n distinct realistic JPEGs of a size (frames of one
// scene with a moving object and sensor noise).
func pictures(size image.Point, n int) ([][]byte, error) {
	sc := jpegsynth.NewScene(size.X, size.Y, uint64(size.X))
	sc.Objects = []jpegsynth.Object{{X: 10, Y: float64(size.Y) / 2, VX: 7, R: float64(size.Y) / 8, Gray: 230}}
	out := make([][]byte, n)
	for i := range out {
		b, err := sc.JPEG(i, 85)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// Table lays results out like the thesis's Table 5.2: one row per form, one
// column per size, mean milliseconds per picture; a second table gives
// the spread.
func Table(rows []string, results map[string][]Sample, thesis []string) string {
	var b strings.Builder
	if len(rows) == 0 {
		return ""
	}
	first := results[rows[0]]
	header := func(title string) { // a column per picture size
		fmt.Fprintf(&b, "| %s |", title)
		for _, s := range first {
			fmt.Fprintf(&b, " %dx%d |", s.Size.X, s.Size.Y)
		}
		b.WriteString("\n|---|")
		for range first {
			b.WriteString("---|")
		}
		b.WriteString("\n")
	}
	header("per-image processing time (ms, mean)")
	if len(thesis) == len(first) {
		b.WriteString("| thesis forwarder, Raspberry Pi 2, Java, Kafka 0.9 (Table 5.2) |")
		for _, v := range thesis {
			fmt.Fprintf(&b, " %s |", v)
		}
		b.WriteString("\n")
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r)
		for _, s := range results[r] {
			fmt.Fprintf(&b, " %.2f |", ms(s.Mean()))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	header("spread (ms): median / p95, n, mean JPEG size")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r)
		for _, s := range results[r] {
			fmt.Fprintf(&b, " %.2f / %.2f, n=%d, %d KB |", ms(s.Quantile(0.5)), ms(s.Quantile(0.95)), len(s.Durations), s.Bytes/1024)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
