// Package bench measures the camera producer the way the thesis measured
// its Java producer (Table 5.1): the time per picture from the moment the
// file is complete in the watched directory to the moment the brokers
// acknowledge it (acks=all, replication factor 3), one picture at a time,
// through the real service pipeline (inotify, checks, encoding, Kafka).
package bench

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/camera-producer/internal/producer"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

// Sizes are the thesis' picture sizes.
var Sizes = []image.Point{jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size1280x720}

// ThesisMillis is Table 5.1 (Raspberry Pi 2, Java producer, Kafka 0.9,
// base64 JSON), mean of 10, by size.
var ThesisMillis = map[image.Point]float64{
	jpegsynth.Size320x188: 18.8, jpegsynth.Size640x480: 76.6, jpegsynth.Size1280x720: 344.8,
}

// Options of a measurement.
type Options struct {
	Brokers []string
	Topic   string // created if missing: 1 partition, RF 3, min.insync.replicas 2
	Form    string // binary or json
	Sizes   []image.Point
	N       int // measured pictures per size
	Warmup  int // unmeasured pictures before the first size
	Log     *slog.Logger
}

// Stats summarises the times of one size.
type Stats struct {
	Size                   image.Point
	N                      int
	Bytes                  int // mean file size
	Mean, Median, Min, Max time.Duration
}

// Run starts the service on a temporary directory and measures.
func Run(ctx context.Context, o Options) ([]Stats, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := ensureTopic(ctx, o); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "producer-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	cfg, err := config(o, dir)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	waiting := map[string]chan time.Time{}
	opt := producer.Options{OnAck: func(it spool.Item, res spool.Result) {
		mu.Lock()
		ch := waiting[it.Name]
		delete(waiting, it.Name)
		mu.Unlock()
		if ch != nil {
			ch <- res.AckedAt
		}
	}}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- producer.Run(sctx, cfg, o.Log, prometheus.NewRegistry(), opt) }()
	defer func() {
		stop()
		<-done
	}()

	seq := 0
	one := func(size image.Point) (time.Duration, int, error) {
		seq++
		b := picture(size, seq)
		name := fmt.Sprintf("bench-%06d.jpg", seq)
		ch := make(chan time.Time, 1)
		mu.Lock()
		waiting[name] = ch
		mu.Unlock()
		// The thesis timed from an image present in the directory; here the
		// clock starts when the file is complete (renamed into place).
		if err := spool.WriteAtomic(dir, name, b); err != nil {
			return 0, 0, err
		}
		start := time.Now()
		select {
		case at := <-ch:
			return at.Sub(start), len(b), nil
		case err := <-done:
			return 0, 0, fmt.Errorf("service stopped: %v", err)
		case <-time.After(2 * time.Minute):
			return 0, 0, errors.New("no acknowledgement within 2 minutes")
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	for i := 0; i < o.Warmup; i++ {
		if _, _, err := one(o.Sizes[0]); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	var out []Stats
	for _, size := range o.Sizes {
		var ds []time.Duration
		total := 0
		for i := 0; i < o.N; i++ {
			d, n, err := one(size)
			if err != nil {
				return nil, fmt.Errorf("%dx%d: %w", size.X, size.Y, err)
			}
			ds = append(ds, d)
			total += n
		}
		out = append(out, summarise(size, ds, total))
	}
	return out, nil
}

// config is the service's configuration from the environment (defaults
// plus any SENSORNODE_* the caller set), pointed at the benchmark's
// brokers, topic and directory.
func config(o Options, dir string) (*producer.Config, error) {
	cfg := producer.DefaultConfig()
	if err := svc.LoadConfig(&cfg); err != nil {
		return nil, err
	}
	cfg.NodeID, cfg.CameraID, cfg.Topic, cfg.Form = "node1", "C1", o.Topic, o.Form
	cfg.Dir, cfg.QuarantineDir, cfg.ArchiveDir = dir, "", ""
	cfg.Source, cfg.AdminAddr, cfg.CreateTopics = producer.SourceDirectory, "127.0.0.1:0", false
	cfg.Kafka.Brokers, cfg.Kafka.ClientID = o.Brokers, "producer-bench"
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func ensureTopic(ctx context.Context, o Options) error {
	adm, err := bus.NewAdmin(bus.Config{Brokers: o.Brokers, ClientID: "producer-bench"})
	if err != nil {
		return err
	}
	defer adm.Close()
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := adm.EnsureTopics(actx, []bus.TopicSpec{{Name: o.Topic, Partitions: 1, ReplicationFactor: 3,
		Config: map[string]string{"min.insync.replicas": "2"}}}); err != nil {
		return fmt.Errorf("topic %s: %w", o.Topic, err)
	}
	for {
		if _, err := adm.Partitions(actx, o.Topic); err == nil {
			return nil
		}
		if err := svc.SleepCtx(actx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("topic %s not ready: %w", o.Topic, err)
		}
	}
}

var bases sync.Map // image.Point -> []byte

// picture is a real JPEG of the size, made unique by a comment segment.
func picture(size image.Point, id int) []byte {
	v, ok := bases.Load(size)
	if !ok {
		v, _ = bases.LoadOrStore(size, jpegsynth.Picture(size, 1))
	}
	base := v.([]byte)
	text := fmt.Sprintf("producer-bench %d", id)
	out := make([]byte, 0, len(base)+len(text)+4)
	out = append(out, 0xFF, 0xD8, 0xFF, 0xFE, byte((len(text)+2)>>8), byte(len(text)+2))
	out = append(out, text...)
	return append(out, base[2:]...)
}

func summarise(size image.Point, ds []time.Duration, total int) Stats {
	s := Stats{Size: size, N: len(ds)}
	if len(ds) == 0 {
		return s
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	s.Mean = sum / time.Duration(len(ds))
	s.Median = sorted[len(sorted)/2]
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.Bytes = total / len(ds)
	return s
}

// Markdown lays results out like the thesis' Table 5.1: one row per
// measurement, one column per size, plus the thesis' own row.
func Markdown(rows map[string][]Stats, order []string) string {
	var b strings.Builder
	b.WriteString("| per-picture time, file ready -> acknowledged (ms) |")
	for _, s := range Sizes {
		fmt.Fprintf(&b, " %dx%d |", s.X, s.Y)
	}
	b.WriteString("\n|---|")
	for range Sizes {
		b.WriteString("---:|")
	}
	b.WriteString("\n| thesis Table 5.1: Java producer, base64 JSON, Raspberry Pi 2, Kafka 0.9 (mean of 10) |")
	for _, s := range Sizes {
		fmt.Fprintf(&b, " %.1f |", ThesisMillis[s])
	}
	b.WriteString("\n")
	for _, name := range order {
		stats := rows[name]
		by := map[image.Point]Stats{}
		n := 0
		for _, s := range stats {
			by[s.Size] = s
			n = s.N
		}
		fmt.Fprintf(&b, "| %s (mean of %d) |", name, n)
		for _, size := range Sizes {
			if s, ok := by[size]; ok {
				fmt.Fprintf(&b, " %.1f |", ms(s.Mean))
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Details lists every statistic, one line per size.
func Details(rows map[string][]Stats, order []string) string {
	var b strings.Builder
	for _, name := range order {
		for _, s := range rows[name] {
			fmt.Fprintf(&b, "%s %dx%d: n=%d mean=%.1fms median=%.1fms min=%.1fms max=%.1fms jpeg=%d bytes\n",
				name, s.Size.X, s.Size.Y, s.N, ms(s.Mean), ms(s.Median), ms(s.Min), ms(s.Max), s.Bytes)
		}
	}
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
