package devstacktest

import (
	"context"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
)

// Consume reads what cfg subscribes to (a test's own consumer group reads
// its topics from their start) in the background for the rest of the test,
// handing every message to handle, one at a time. Poll errors are skipped:
// the client retries by itself while brokers are away. stop ends the
// reading and waits for it; it also runs when the test ends.
func Consume(tb testing.TB, cfg bus.ConsumerConfig, handle func(*bus.Message)) (stop func()) {
	tb.Helper()
	c, err := bus.NewConsumer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		for ctx.Err() == nil {
			m, err := c.Poll(ctx, 200*time.Millisecond)
			if err != nil || m == nil {
				continue
			}
			handle(m)
		}
	}()
	stop = func() {
		cancel()
		<-done
	}
	tb.Cleanup(stop)
	return stop
}
