package ingest

import (
	"errors"
	"sync"
	"time"
)

// bundleQueueBytes bounds what an open bundle's writer queues for HDFS:
// appends run ahead of the DataNode's acknowledgements by at most this
// many bytes of Avro blocks (one picture each; a larger block is queued
// alone). It is one partition's fetch (the consumer's MaxFetchBytes
// default, 4 MiB), so that with several partitions the poll loop takes
// a fetch's records of one partition without waiting for that
// partition's writer while another partition's writer has nothing to do
// (was 8 blocks: the loop waited on the first partition's 9th picture).
const bundleQueueBytes = 4 << 20

// bundleQueueBlocks caps the number of blocks queued (a bound on the
// queue's channel; bundleQueueBytes is what bounds the memory).
const bundleQueueBlocks = 1024

// A writer keeps up to bundleFreeBuffers written blocks' buffers of at
// most bundleFreeBufferBytes for reuse (at most 4 MiB; a larger
// picture's buffer is left to the GC).
const (
	bundleFreeBuffers     = 8
	bundleFreeBufferBytes = 512 << 10
)

// errWriterClosed is returned by a write to an asyncWriter after Close or
// abort.
var errWriterClosed = errors.New("bundle writer closed")

// asyncWriter writes an open bundle to HDFS on a goroutine of its own, so
// that the poll loop (Kafka, decoding, SHA-256, Avro encoding) goes on
// with the next pictures while the previous ones are written to the
// DataNode (checksums, packets, waiting for acknowledgements).
//
// Write copies p and queues it (it blocks while the bytes queued and
// being written would pass maxBytes; a block is always taken when
// nothing is queued). A buffer is made only when none is free: the
// memory held is at most maxBytes (or one larger block) queued plus the
// buffers kept for reuse (bundleFreeBuffers of at most
// bundleFreeBufferBytes), never the bundle. The blocks are
// written in order. A write
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
	f        FileWriter
	queue    chan []byte
	free     chan []byte // buffers the goroutine is done with, for reuse
	stop     chan struct{}
	done     chan struct{}
	maxBytes int
	// room has a token whenever queued fell below maxBytes (the poll
	// loop waits on it while the queue is full).
	room chan struct{}

	mu     sync.Mutex
	err    error // the first write error; guarded by mu
	queued int   // bytes queued or being written; guarded by mu

	closed  bool      // Close, closeAsync or abort called
	closeAt time.Time // closeAsync's deadline (set before the queue is closed)
	closing bool      // closeAsync called: the goroutine closes the file
	// then, if set by closeAsync, runs on the goroutine after a
	// successful close, with closeAt (the bundle's index is written
	// there); its error is the close's result.
	then func(deadline time.Time) error
	cerr error // the close's result (read after done)
}

// newAsyncWriter starts a writer of f queueing at most maxBytes (and at
// most depth blocks).
func newAsyncWriter(f FileWriter, maxBytes, depth int) *asyncWriter {
	w := &asyncWriter{
		f:        f,
		queue:    make(chan []byte, depth),
		free:     make(chan []byte, bundleFreeBuffers),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		maxBytes: maxBytes,
		room:     make(chan struct{}, 1),
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
			var err error
			if w.failed() == nil {
				_, err = w.f.Write(b)
			}
			w.mu.Lock()
			if err != nil {
				w.err = err
			}
			w.queued -= len(b)
			w.mu.Unlock()
			select {
			case w.room <- struct{}{}:
			default:
			}
			if cap(b) <= bundleFreeBufferBytes {
				select {
				case w.free <- b[:0]:
				default:
				}
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
	for {
		w.mu.Lock()
		ok := w.queued == 0 || w.queued+len(p) <= w.maxBytes
		if ok {
			w.queued += len(p)
		}
		w.mu.Unlock()
		if ok {
			break
		}
		<-w.room // the goroutine wrote a block: look again
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
