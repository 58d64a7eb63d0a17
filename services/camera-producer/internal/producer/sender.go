package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/services/camera-producer/internal/spool"
)

// Queue is where the sender takes files from and reports results to.
type Queue interface {
	Next(ctx context.Context) (spool.Item, error)
	Done(it spool.Item, res spool.Result)
}

// Limits are the size limits in force, updated when the topic's
// max.message.bytes becomes known.
type Limits struct {
	record atomic.Int64 // largest record (key + value + headers)
	form   messages.Form
}

// NewLimits starts with the client's own limit less headroom.
func NewLimits(form messages.Form, clientMax, headroom int) *Limits {
	l := &Limits{form: form}
	l.record.Store(int64(clientMax - headroom))
	return l
}

// Set records a new record limit.
func (l *Limits) Set(record int64) { l.record.Store(record) }

// Record is the largest record accepted.
func (l *Limits) Record() int64 { return l.record.Load() }

// File is the largest JPEG file that can fit a record: the binary form
// adds a key and headers (well under 1 KiB), the JSON form base64 (4/3).
func (l *Limits) File() int64 {
	r := l.record.Load()
	if l.form == messages.FormJSON {
		return (r - 512) * 3 / 4
	}
	return r - 1024
}

// Sender reads complete files, encodes them and publishes them; the file is
// disposed of by the queue only when the delivery report confirms it.
type Sender struct {
	Queue    Queue
	Pub      bus.AsyncPublisher
	Topic    string
	Form     messages.Form
	CameraID string
	NodeID   string
	Limits   *Limits
	Log      *slog.Logger
	// OnAck, if set, is called from the delivery goroutine for each
	// acknowledged picture, before the file is disposed of (benchmarks and
	// tests).
	OnAck func(it spool.Item, res spool.Result)
	// inflight counts records enqueued and not yet reported.
	inflight atomic.Int64
}

// Run sends until ctx is done. It does not wait for outstanding delivery
// reports: flush the producer for that.
func (s *Sender) Run(ctx context.Context) error {
	for {
		it, err := s.Queue.Next(ctx)
		if err != nil {
			return nil
		}
		s.send(ctx, it)
	}
}

func (s *Sender) send(ctx context.Context, it spool.Item) {
	data, err := readExact(it.Path, it.Size)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.Queue.Done(it, spool.Result{Outcome: spool.Gone})
		return
	case errors.Is(err, errSizeChanged):
		s.Queue.Done(it, spool.Result{Outcome: spool.Changed})
		return
	case err != nil:
		s.Queue.Done(it, spool.Result{Outcome: spool.Retry, Err: err})
		return
	}
	if err := messages.CheckJPEG(data, 0); err != nil {
		s.Queue.Done(it, spool.Result{Outcome: spool.Reject, Err: err})
		return
	}
	pic := messages.NewPicture(s.CameraID, s.NodeID, it.CapturedAt, data)
	enc, err := messages.EncodePicture(pic, s.Form)
	if err != nil {
		s.Queue.Done(it, spool.Result{Outcome: spool.Reject, Err: err})
		return
	}
	if lim := s.Limits.Record(); int64(enc.Size()) > lim {
		s.Queue.Done(it, spool.Result{Outcome: spool.Reject,
			Err: fmt.Errorf("value: %w: record of %d bytes (%s form), limit %d (topic max.message.bytes less headroom)", messages.ErrTooLarge, enc.Size(), s.Form, lim)})
		return
	}
	key := string(enc.Key)
	msg := bus.FromEncoded(s.Topic, enc)
	size := enc.Size()
	s.inflight.Add(1)
	err = s.Pub.PublishAsync(ctx, msg, func(d bus.Delivery) {
		s.inflight.Add(-1)
		s.delivered(it, key, size, d)
	})
	if err != nil {
		s.inflight.Add(-1)
		switch {
		case ctx.Err() != nil:
			s.Queue.Done(it, spool.Result{Outcome: spool.Released})
		case errors.Is(err, bus.ErrTooLarge):
			s.Queue.Done(it, spool.Result{Outcome: spool.Reject, Key: key, Err: fmt.Errorf("value: %w: %v", messages.ErrTooLarge, err)})
		default:
			s.Queue.Done(it, spool.Result{Outcome: spool.Retry, Key: key, Err: err})
		}
	}
}

// delivered runs on the client's delivery goroutine: keep it short.
func (s *Sender) delivered(it spool.Item, key string, size int, d bus.Delivery) {
	switch {
	case d.Err == nil:
		res := spool.Result{Outcome: spool.Sent, Key: key, AckedAt: time.Now()}
		if s.OnAck != nil {
			s.OnAck(it, res) // before Done: the file is still there
		}
		s.Queue.Done(it, res)
	case errors.Is(d.Err, bus.ErrTooLarge) && int64(size) > s.Limits.Record():
		s.Queue.Done(it, spool.Result{Outcome: spool.Reject, Key: key, Err: fmt.Errorf("value: %w: broker: %v", messages.ErrTooLarge, d.Err)})
	default:
		// Includes a broker-side size rejection of a record within our
		// limit: retried (loudly) rather than quarantined, since the limit
		// may just be refreshing.
		s.Queue.Done(it, spool.Result{Outcome: spool.Retry, Key: key, Err: d.Err})
	}
}

// Inflight is the number of records enqueued without a delivery report.
func (s *Sender) Inflight() int64 { return s.inflight.Load() }

var errSizeChanged = errors.New("file size changed")

// readExact reads a file that should be size bytes long.
func readExact(path string, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() != size {
		return nil, errSizeChanged
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, errSizeChanged
		}
		return nil, err
	}
	return b, nil
}
