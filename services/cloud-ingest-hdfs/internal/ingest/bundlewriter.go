package ingest

import (
	"errors"
	"sync"
	"time"
)

// bundleQueueBlocks is how many Avro blocks (one picture each) an open
// bundle's writer queues for HDFS: appends run ahead of the DataNode's
// acknowledgements by at most this many pictures.
const bundleQueueBlocks = 8

// errWriterClosed is returned by a write to an asyncWriter after Close or
// abort.
var errWriterClosed = errors.New("bundle writer closed")

// asyncWriter writes an open bundle to HDFS on a goroutine of its own, so
// that the poll loop (Kafka, decoding, SHA-256, Avro encoding) goes on
// with the next pictures while the previous ones are written to the
// DataNode (checksums, packets, waiting for acknowledgements).
//
// Write copies p and queues it (it blocks while the queue is full). A
// buffer is made only when none is free, so at most bundleQueueBlocks+2
// buffers exist (queued, being written, waiting for room), each of the
// largest block's size: the memory held is bounded by blocks, never the
// bundle. The blocks are written in order. A write
// error is sticky: the writes queued after it are dropped, and it is
// returned by the next Write and by Close, so a bundle with a failed
// write is never closed as complete and is abandoned by its caller (as
// before, when Write returned the error itself).
//
// Close waits for every queued block to be written, then closes the file
// (durable: acknowledged and completed): only then may the bundle be
// renamed. closeAsync does the same on the writer's goroutine (the roll
// goes on with the next bundle's appends while the DataNode acknowledges
// and the NameNode completes the file): closeDone says whether it is
// over, wait waits for it and returns its result. abort drops what is
// queued and closes the file without waiting for more (the bundle is
// being abandoned); after closeAsync it waits for the close. Write,
// Close, closeAsync, closeDone, wait and abort are called from one
// goroutine (the poll loop); the file is used on the writer's.
type asyncWriter struct {
	f     FileWriter
	queue chan []byte
	free  chan []byte // buffers the goroutine is done with, for reuse
	stop  chan struct{}
	done  chan struct{}

	mu  sync.Mutex
	err error // the first write error; guarded by mu

	closed  bool      // Close, closeAsync or abort called
	closeAt time.Time // closeAsync's deadline (set before the queue is closed)
	closing bool      // closeAsync called: the goroutine closes the file
	// then, if set by closeAsync, runs on the goroutine after a
	// successful close, with closeAt (the bundle's index is written
	// there); its error is the close's result.
	then func(deadline time.Time) error
	cerr error // the close's result (read after done)
}

func newAsyncWriter(f FileWriter, depth int) *asyncWriter {
	w := &asyncWriter{
		f:     f,
		queue: make(chan []byte, depth),
		free:  make(chan []byte, depth+1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go w.run()
	return w
}

func (w *asyncWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case b, ok := <-w.queue:
			if !ok {
				if w.closing {
					w.cerr = w.failed()
					if w.cerr == nil {
						w.cerr = w.f.Close(w.closeAt)
						if w.cerr == nil && w.then != nil {
							w.cerr = w.then(w.closeAt)
						}
					} else {
						_ = w.f.Close(time.Now()) // releases the lease; the bundle is abandoned
					}
				}
				return
			}
			select {
			case <-w.stop: // aborted: drop the rest unwritten
				return
			default:
			}
			if w.failed() == nil {
				if _, err := w.f.Write(b); err != nil {
					w.mu.Lock()
					w.err = err
					w.mu.Unlock()
				}
			}
			select {
			case w.free <- b[:0]:
			default:
			}
		}
	}
}

func (w *asyncWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Write queues a copy of p.
func (w *asyncWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	if err := w.failed(); err != nil {
		return 0, err
	}
	var b []byte
	select {
	case b = <-w.free:
	default:
	}
	w.queue <- append(b, p...)
	return len(p), nil
}

// Close writes out what is queued, then closes the file.
func (w *asyncWriter) Close(deadline time.Time) error {
	if w.closed {
		return errWriterClosed
	}
	w.closeAsync(deadline, nil)
	return w.wait()
}

// closeAsync starts Close on the writer's goroutine; then (if not nil)
// runs there after the close succeeded, bounded by the same deadline.
func (w *asyncWriter) closeAsync(deadline time.Time, then func(deadline time.Time) error) {
	if w.closed {
		return
	}
	w.closed, w.closing, w.closeAt, w.then = true, true, deadline, then
	close(w.queue)
}

// closeDone reports whether the writer's goroutine is done (after
// closeAsync: the file is closed, or failed to).
func (w *asyncWriter) closeDone() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// wait waits for closeAsync's close and returns its result.
func (w *asyncWriter) wait() error {
	if !w.closing {
		return errWriterClosed
	}
	<-w.done
	return w.cerr
}

// abortCloseGrace bounds the close of an abandoned bundle's file. It is
// not closed with a deadline already passed: github.com/colinmarc/hdfs
// (v2.4.0) leaks a block stream's acknowledging goroutine when the close
// cannot flush what it buffered, so the file is closed properly (flushed,
// its lease released) before it is removed.
const abortCloseGrace = 5 * time.Second

// abort drops what is queued and closes the file (for an abandoned
// bundle: its lease is released, the file removed after); after
// closeAsync it waits for that close instead.
func (w *asyncWriter) abort() {
	if w.closed {
		<-w.done
		return
	}
	w.closed = true
	close(w.stop)
	<-w.done
	_ = w.f.Close(time.Now().Add(abortCloseGrace))
}
