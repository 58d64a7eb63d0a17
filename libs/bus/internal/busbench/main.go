// Command busbench measures one libs/bus backend on a simple workload:
// produce N messages of a fixed size (PublishAsync, acks=all), then consume
// them all with a consumer group, committing every 100, checking each
// value's SHA-256. It prints throughput and the process's peak RSS, so
// each backend is measured in its own process:
//
//	go run ./libs/bus/internal/busbench -backend franz -brokers 127.0.0.1:34011 -n 2000 -size 65536
//
// It creates its own topic (unique name) and leaves it behind.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "busbench:", err)
		os.Exit(1)
	}
}

type flags struct {
	backend    string
	brokers    string
	n, size    int
	partitions int
	rf         int
	queue      int
	commit     int
}

func run() error {
	var f flags
	flag.StringVar(&f.backend, "backend", bus.DefaultBackend(), "backend: "+strings.Join(bus.Backends(), " or "))
	flag.StringVar(&f.brokers, "brokers", "127.0.0.1:9092", "bootstrap brokers, comma separated")
	flag.IntVar(&f.n, "n", 2000, "messages")
	flag.IntVar(&f.size, "size", 64<<10, "value bytes per message")
	flag.IntVar(&f.partitions, "partitions", 3, "partitions of the topic")
	flag.IntVar(&f.rf, "rf", 3, "replication factor of the topic")
	flag.IntVar(&f.queue, "queue", 16<<20, "producer and consumer QueueMaxBytes")
	flag.IntVar(&f.commit, "commit-every", 100, "commit after this many messages")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	base := bus.Config{Brokers: strings.Split(f.brokers, ","), ClientID: "busbench", Backend: f.backend}
	topic := fmt.Sprintf("busbench-%s-%d", f.backend, time.Now().UnixNano())

	adm, err := bus.NewAdmin(base, bus.WithLogger(log))
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	err = adm.EnsureTopics(actx, []bus.TopicSpec{{Name: topic, Partitions: f.partitions, ReplicationFactor: f.rf}})
	cancel()
	_ = adm.Close()
	if err != nil {
		return err
	}

	// Distinct payloads, made before timing starts.
	rng := rand.New(rand.NewPCG(1, 2))
	payloads := make([][]byte, 16)
	for i := range payloads {
		payloads[i] = make([]byte, f.size)
		for j := range payloads[i] {
			payloads[i][j] = byte(rng.UintN(256))
		}
	}

	prodSecs, err := produce(ctx, f, base, topic, payloads, log)
	if err != nil {
		return err
	}
	consSecs, err := consume(ctx, f, base, topic, log)
	if err != nil {
		return err
	}
	mb := float64(f.n) * float64(f.size) / (1 << 20)
	hwm, rss := procStatus("VmHWM"), procStatus("VmRSS")
	fmt.Printf("backend=%s goarch=%s n=%d size=%d produce=%.0f msg/s %.1f MiB/s consume=%.0f msg/s %.1f MiB/s peak_rss=%s rss=%s\n",
		f.backend, runtime.GOARCH, f.n, f.size, float64(f.n)/prodSecs, mb/prodSecs, float64(f.n)/consSecs, mb/consSecs, hwm, rss)
	return nil
}

func produce(ctx context.Context, f flags, base bus.Config, topic string, payloads [][]byte, log *slog.Logger) (float64, error) {
	p, err := bus.NewProducer(bus.ProducerConfig{Config: base, Linger: 5 * time.Millisecond,
		MaxMessageBytes: max(f.size+4096, 1<<20), QueueMaxBytes: max(f.queue, 2*f.size+8192), DeliveryTimeout: 2 * time.Minute},
		bus.WithLogger(log))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	var (
		mu     sync.Mutex
		failed error
	)
	start := time.Now()
	for i := range f.n {
		v := payloads[i%len(payloads)]
		sum := sha256.Sum256(v)
		m := &bus.Message{Topic: topic, Key: fmt.Appendf(nil, "k%08d", i), Value: v,
			Headers: []messages.Header{{Key: "sha256", Value: sum[:]}}}
		if err := p.PublishAsync(ctx, m, func(d bus.Delivery) {
			if d.Err != nil {
				mu.Lock()
				failed = errors.Join(failed, d.Err)
				mu.Unlock()
			}
		}); err != nil {
			return 0, err
		}
	}
	if err := p.Flush(ctx); err != nil {
		return 0, err
	}
	secs := time.Since(start).Seconds()
	mu.Lock()
	defer mu.Unlock()
	if failed != nil {
		return 0, fmt.Errorf("deliveries failed: %w", failed)
	}
	return secs, nil
}

func consume(ctx context.Context, f flags, base bus.Config, topic string, log *slog.Logger) (float64, error) {
	c, err := bus.NewConsumer(bus.ConsumerConfig{Config: base, GroupID: topic, Topics: []string{topic},
		MaxFetchBytes: max(f.size+4096, 1<<20), QueueMaxBytes: max(f.queue, f.size+4096), SessionTimeout: 10 * time.Second},
		bus.WithLogger(log))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	next := map[bus.TopicPartition]int64{}
	var start time.Time
	for got := 0; got < f.n; {
		m, err := c.Poll(ctx, time.Second)
		if err != nil {
			return 0, err
		}
		if m == nil {
			continue
		}
		if got == 0 {
			start = time.Now() // from the first message: excludes the group join
		}
		sum := sha256.Sum256(m.Value)
		if len(m.Headers) != 1 || !bytes.Equal(m.Headers[0].Value, sum[:]) {
			return 0, fmt.Errorf("%s@%d: value does not match its sha256 header", m.TopicPartition(), m.Offset)
		}
		next[m.TopicPartition()] = m.Offset + 1
		got++
		if got%f.commit == 0 || got == f.n {
			offs := make([]bus.Offset, 0, len(next))
			for tp, o := range next {
				offs = append(offs, bus.Offset{TopicPartition: tp, Offset: o})
			}
			if err := c.Commit(ctx, offs); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start).Seconds(), nil
}

// procStatus reads a field of /proc/self/status ("12345 kB").
func procStatus(field string) string {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return "?"
	}
	defer fh.Close()
	s := bufio.NewScanner(fh)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && k == field {
			return strings.ReplaceAll(strings.TrimSpace(v), " ", "")
		}
	}
	return "?"
}
