// Package hdfsretry closes files written with github.com/colinmarc/hdfs/v2
// the way the Java client does. FileWriter.Close answers ErrReplicating
// while the DataNode has not yet reported the file's last block to the
// NameNode (common on a busy machine): the data is on the DataNodes, the
// file is not complete yet, and calling Close again is safe.
//
// cloud-ingest-hdfs and the devstack (its write probe, the load test's
// plain-client baseline) close files through this one loop, so the service
// and its baseline wait for the NameNode the same way.
package hdfsretry

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// FirstDelay is the wait before the first retry. The DataNode's
// incremental block report usually reaches the NameNode within a few
// milliseconds, and in cloud-ingest-hdfs every millisecond here is picture
// latency (a 50 ms first delay made a third of the pictures take 55 ms
// instead of 5 ms to become durable).
const FirstDelay = 5 * time.Millisecond

// Wait waits delay before the next Close. closeErr is the ErrReplicating
// error of the Close just made. A non-nil result ends the retries and is
// what Close returns, so it should wrap closeErr.
type Wait func(closeErr error, delay time.Duration) error

// Close closes w (an *hdfs.FileWriter), calling Close again while its
// error is ErrReplicating (hdfs.IsErrReplicating). Between attempts it
// calls wait with a delay of FirstDelay, doubling after every retry up to
// maxDelay. It returns nil once Close succeeds, Close's error when that is
// not ErrReplicating, and wait's error when wait gives up.
func Close(w io.Closer, maxDelay time.Duration, wait Wait) error {
	return CloseFrom(w, FirstDelay, maxDelay, wait)
}

// CloseFrom is Close with first as the first delay instead of
// FirstDelay: for a writer that waits on a close (cloud-ingest-hdfs's
// bundle store rolls a bundle and then its index, one after the other,
// and reads nothing meanwhile), a shorter first delay ends the wait for
// the DataNode's block report sooner, for a few more NameNode calls.
func CloseFrom(w io.Closer, first, maxDelay time.Duration, wait Wait) error {
	delay := first
	for {
		err := w.Close()
		if err == nil || !hdfs.IsErrReplicating(err) {
			return err
		}
		if werr := wait(err, delay); werr != nil {
			return werr
		}
		delay = min(2*delay, maxDelay)
	}
}

// UntilDone is a Wait that sleeps the delay and gives up once ctx is done,
// with an error wrapping the Close error and ctx's cause.
func UntilDone(ctx context.Context) Wait {
	return func(closeErr error, delay time.Duration) error {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", closeErr, context.Cause(ctx))
		case <-t.C:
			return nil
		}
	}
}
