package ingest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// gateWriter is a FileWriter whose writes wait for a token on gate (nil:
// no wait) and fail from the failAt'th on (0: never).
type gateWriter struct {
	gate   chan struct{}
	failAt int

	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	closed bool
}

var errWrite = errors.New("injected write failure")

func (g *gateWriter) Write(p []byte) (int, error) {
	if g.gate != nil {
		<-g.gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	if g.failAt > 0 && g.writes >= g.failAt {
		return 0, errWrite
	}
	return g.buf.Write(p)
}

func (g *gateWriter) Close(time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	return nil
}

func TestAsyncWriterWritesInOrderThenCloses(t *testing.T) {
	g := &gateWriter{}
	w := newAsyncWriter(g, 1<<20, 2)
	var want bytes.Buffer
	p := make([]byte, 0, 16)
	for i := range 50 {
		p = fmt.Appendf(p[:0], "block %d;", i)
		if _, err := w.Write(p); err != nil { // p is reused: Write copies it
			t.Fatalf("Write %d: %v", i, err)
		}
		want.Write(p)
	}
	if err := w.Close(time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Close = %v, want nil", err)
	}
	if got := g.buf.String(); got != want.String() || !g.closed {
		t.Errorf("file %q (closed %v), want %q closed", got, g.closed, want.String())
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, errWriterClosed) {
		t.Errorf("Write after Close = %v, want errWriterClosed", err)
	}
}

// A failed write is sticky: the blocks after it are not written, a later
// Write and Close return it (the caller abandons the bundle).
func TestAsyncWriterWriteErrorIsSticky(t *testing.T) {
	tests := []struct {
		name   string
		writes int // blocks written after the header before Close
	}{
		{name: "seen by Close", writes: 0},
		{name: "seen by a later Write or Close", writes: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gateWriter{failAt: 1}
			w := newAsyncWriter(g, 1<<20, 2)
			_, _ = w.Write([]byte("header")) // fails on the writer's goroutine
			var writeErr error
			for range tt.writes {
				if _, err := w.Write([]byte("block")); err != nil {
					writeErr = err
				}
			}
			err := w.Close(time.Now().Add(time.Minute))
			if !errors.Is(err, errWrite) {
				t.Fatalf("Close = %v, want %v", err, errWrite)
			}
			if writeErr != nil && !errors.Is(writeErr, errWrite) {
				t.Errorf("Write = %v, want nil or %v", writeErr, errWrite)
			}
			if g.buf.Len() != 0 || g.writes != 1 {
				t.Errorf("file %q after %d writes, want nothing after 1 (the failed one)", g.buf.String(), g.writes)
			}
			if !g.closed {
				t.Error("file not closed (its lease kept)")
			}
		})
	}
}

// abort, with a block being written and more queued, waits for the one
// being written, closes the file and refuses what comes after.
func TestAsyncWriterAbort(t *testing.T) {
	const depth = 2
	g := &gateWriter{gate: make(chan struct{})}
	w := newAsyncWriter(g, 1<<20, depth)
	for range depth + 1 { // one taken by the goroutine (at the gate) or all queued
		_, _ = w.Write([]byte("x"))
	}
	close(g.gate)
	w.abort()
	if !g.closed {
		t.Error("file not closed by abort")
	}
	if _, err := w.Write([]byte("z")); !errors.Is(err, errWriterClosed) {
		t.Errorf("Write after abort = %v, want errWriterClosed", err)
	}
	if err := w.Close(time.Now()); !errors.Is(err, errWriterClosed) {
		t.Errorf("Close after abort = %v, want errWriterClosed", err)
	}
}

// gatedFS is a memFS whose files under a path containing gated wait, on
// their first write, until gate is closed.
type gatedFS struct {
	*memFS
	gated string
	gate  chan struct{}
}

func (f *gatedFS) Create(tmp string) (FileWriter, error) {
	w, err := f.memFS.Create(tmp)
	if err != nil || !strings.Contains(tmp, f.gated) {
		return w, err
	}
	return &gatedWriter{FileWriter: w, gate: f.gate}, nil
}

type gatedWriter struct {
	FileWriter
	gate chan struct{}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	<-w.gate
	return w.FileWriter.Write(p)
}

// A fetch returns records grouped by partition: with partition 0's HDFS
// stream stalled, the poll loop still takes a fetch's worth of partition
// 0's pictures into its bundle's queue and goes on to partition 1's
// (before, it waited on partition 0's 9th picture while partition 1's
// writer had nothing to do). Nothing is lost: both bundles commit whole.
func TestBundlePollLoopNotHeldByOnePartitionsWriter(t *testing.T) {
	cfg := bundleConfig()
	cfg.PictureBundleMaxAge = time.Hour
	cl := newCluster(messages.TopicCamera)
	if err := cl.CreateTopic(messages.TopicCamera, 2, nil); err != nil {
		t.Fatal(err)
	}
	tp0, tp1 := camTP, bus.TopicPartition{Topic: messages.TopicCamera, Partition: 1}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var want []messages.Picture
	for i, tp := range []bus.TopicPartition{tp0, tp0, tp0, tp0, tp0, tp0, tp0, tp0, tp0, tp0, tp0, tp0, tp1, tp1, tp1} {
		p, e := mustPicture(t, "C1", at.Add(time.Duration(i)*time.Second), uint64(i), messages.FormBinary)
		appendMsg(t, cl, tp, e)
		want = append(want, p)
	}
	fs := &gatedFS{memFS: newMemFS(), gated: "+0/", gate: make(chan struct{})}
	in := manualIngester(t, cfg, fs, cl, io.Discard, tp0, tp1)
	msgs := cl.Records(tp0.Topic)
	// As a fetch hands them: partition 0's, then partition 1's.
	slices.SortStableFunc(msgs, func(a, b *bus.Message) int { return cmp.Compare(a.Partition, b.Partition) })
	if len(msgs) != len(want) {
		t.Fatalf("%d records, want %d", len(msgs), len(want))
	}
	done := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := in.process(context.Background(), m); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		close(fs.gate)
		<-done
		t.Fatal("the poll loop waited on partition 0's stalled writer: partition 1's pictures were not taken")
	}
	if err != nil {
		t.Fatal(err)
	}
	close(fs.gate)
	in.finish()
	checkPictures(t, fs.memFS, want)
}

// The queue is bounded by bytes; a block larger than the bound is taken
// alone (it does not wait for ever).
func TestAsyncWriterByteBoundTakesLargerBlockAlone(t *testing.T) {
	g := &gateWriter{}
	w := newAsyncWriter(g, 8, 1024)
	var want bytes.Buffer
	for i, n := range []int{3, 20, 5, 8, 9, 1, 64} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		if _, err := w.Write(p); err != nil {
			t.Fatalf("Write %d bytes: %v", n, err)
		}
		want.Write(p)
	}
	if err := w.Close(time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Close = %v, want nil", err)
	}
	if got := g.buf.String(); got != want.String() {
		t.Errorf("file %q, want %q", got, want.String())
	}
}
