package harness

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/loadtest/pipeline"
	"github.com/sensornode/sensornode/tools/hdfscli"
)

// kafkaObserver consumes topics with its own consumer group and hands every
// record to handle.
type kafkaObserver struct {
	c      bus.Consumer
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

func observeKafka(ctx context.Context, cfg bus.ConsumerConfig, log *slog.Logger, handle func(*bus.Message)) (*kafkaObserver, error) {
	c, err := bus.NewConsumer(cfg, bus.WithLogger(log))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &kafkaObserver{c: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		for ctx.Err() == nil {
			m, err := c.Poll(ctx, 200*time.Millisecond)
			if err != nil {
				if ctx.Err() == nil {
					o.mu.Lock()
					o.err = err
					o.mu.Unlock()
					log.Error("observer poll failed", "err", err)
				}
				return
			}
			if m != nil {
				handle(m)
			}
		}
	}()
	return o, nil
}

// Err is the error that stopped the observer, if any.
func (o *kafkaObserver) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func (o *kafkaObserver) Close() error {
	o.cancel()
	<-o.done
	return o.c.Close()
}

// readings tracks temperature readings by the pipeline's identity
// (messages.ReadingIdentity; see readings.go).
type readings struct {
	mu   sync.Mutex
	edge map[string]int
	// exact is every reading seen by node and read time to the
	// microsecond, with its identity; collapsed counts those whose
	// identity an earlier one had already (one reading for ingest).
	exact     map[string]string
	collapsed int
	bad       int // undecodable records on the edge topic
}

func newReadings() *readings { return &readings{edge: map[string]int{}, exact: map[string]string{}} }

func (r *readings) seen(t messages.TemperatureReading) {
	id := t.Identity()
	// To the microsecond: what every readings format keeps (Avro's
	// timestamp-micros).
	exact := t.NodeID + "|" + archive.AvroReadAt(t.ReadAt).Format(time.RFC3339Nano)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.exact[exact]; !ok {
		r.exact[exact] = id
		if r.edge[id] > 0 {
			r.collapsed++
		}
	}
	r.edge[id]++
}

// snapshot is the readings seen by identity, and how many readings shared
// their identity with an earlier one.
func (r *readings) snapshot() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.edge))
	for k, v := range r.edge {
		out[k] = v
	}
	return out, r.collapsed
}

// hdfsObserver lists the picture directories every interval and reports
// new files to the ledger; through bundles it finds the committed bundles
// and reports every picture their index lists.
type hdfsObserver struct {
	client  *hdfs.Client
	dirs    []string
	bundles *bundlestore.Reader
	ledger  *Ledger
	seen    map[string]bool
	log     *slog.Logger
	cancel  context.CancelFunc
	done    chan struct{}
}

func observeHDFS(ctx context.Context, client *hdfs.Client, dirs []string, bundles *bundlestore.Reader, ledger *Ledger, every time.Duration, log *slog.Logger) *hdfsObserver {
	ctx, cancel := context.WithCancel(ctx)
	o := &hdfsObserver{client: client, dirs: dirs, bundles: bundles, ledger: ledger, seen: map[string]bool{}, log: log, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			o.listOnce()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return o
}

// listOnce lists every directory (recursively) once.
func (o *hdfsObserver) listOnce() {
	for _, d := range o.dirs {
		err := hdfscli.Walk(o.client, d, func(p string, fi os.FileInfo) {
			if o.seen[p] {
				return
			}
			key, ok := pipeline.PictureKeyFromPath(p)
			if !ok {
				o.log.Warn("unexpected file in the picture directory", "path", p)
				o.seen[p] = true
				return
			}
			o.seen[p] = true
			o.ledger.Seen(StageHDFS, key, fi.ModTime(), int(fi.Size()), 0, p)
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			o.log.Warn("listing hdfs", "dir", d, "err", err)
		}
	}
	if o.bundles != nil {
		o.listBundles()
	}
}

// listBundles reports the pictures of every committed bundle not seen
// yet, from its index (libs/bundlestore: committed names with their index
// only); the bundle's modification time (set when it was closed, just
// before its commit by rename) is when they became durable.
func (o *hdfsObserver) listBundles() {
	ctx := context.Background() // the listing is bounded: one run's few partitions and hours
	parts, err := o.bundles.Partitions()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		o.log.Warn("listing bundle partitions", "err", err)
		return
	}
	for _, part := range parts {
		err := o.bundles.HourDirs(ctx, part, false, func(dir string, hour time.Time) (bool, error) {
			bs, err := o.bundles.BundlesIn(dir, hour)
			if err != nil {
				return false, err
			}
			for _, b := range bs {
				if o.seen[b.Path] {
					continue
				}
				fi, err := o.client.Stat(b.Path)
				if err != nil {
					return false, err
				}
				o.seen[b.Path] = true
				for _, e := range b.Index.Entries {
					o.ledger.SeenInBundle(bundlestore.Picture{Key: e.Key, Bundle: b.Path, Entry: e, Sync: b.Index.Sync}, fi.ModTime())
				}
			}
			return false, nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			o.log.Warn("listing bundles", "partition", part, "err", err)
		}
	}
}

func (o *hdfsObserver) Close() {
	o.cancel()
	<-o.done
}

// handleEdge records edge records: pictures into the ledger, readings into
// rd (identified by node and read time).
func handleEdge(ledger *Ledger, rd *readings, tempTopic string, log *slog.Logger) func(*bus.Message) {
	return func(m *bus.Message) {
		if m.Topic == tempTopic {
			r, err := messages.DecodeTemperature(m.Value, m.Headers)
			if err != nil {
				log.Warn("undecodable reading on the edge", "topic", m.Topic, "offset", m.Offset, "err", err)
				rd.mu.Lock()
				rd.bad++
				rd.mu.Unlock()
				return
			}
			rd.seen(r)
			return
		}
		ledger.Seen(StageEdge, string(m.Key), m.Timestamp, m.Size(), len(m.Value), m.Topic)
	}
}

// handleCloud records cloud records: MirrorMaker 2's copies (topics
// starting with mirrorPrefix) as StageMirror, the forwarders' topics as
// StageCloud.
func handleCloud(ledger *Ledger, topics []string, mirrorPrefix string) func(*bus.Message) {
	return func(m *bus.Message) {
		switch {
		case mirrorPrefix != "" && strings.HasPrefix(m.Topic, mirrorPrefix):
			ledger.Seen(StageMirror, string(m.Key), m.Timestamp, m.Size(), len(m.Value), m.Topic)
		case slices.Contains(topics, m.Topic):
			ledger.Seen(StageCloud, string(m.Key), m.Timestamp, m.Size(), len(m.Value), m.Topic)
		}
	}
}
