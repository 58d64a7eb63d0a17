//go:build integration

package bus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// The franz consumer takes a fetch whole and hands its records out one by
// one, so franz-go fetches the partition again while the caller is still
// processing the fetch before (Poll). Checked on the devstack: with
// fetches of a few records, the next fetch is buffered in franz-go while
// records of the one before wait ahead; then every record comes once, in
// order, and the buffered gauge counts what waits ahead.
func TestIntegrationFranzFetchesWhileHandingOut(t *testing.T) {
	st := devstacktest.Stack(t)
	topic := devstacktest.UniqueTopic(t, "franzahead")
	devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 1, 3)
	cfg := bus.Config{Brokers: strings.Split(st.EdgeBootstrap(), ","), ClientID: "franzahead", Backend: bus.BackendFranz}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// 40 records of 200 bytes, one produce batch each: a fetch of at most
	// 1 KiB holds a few.
	p, err := bus.NewProducer(bus.ProducerConfig{Config: cfg, Linger: time.Millisecond, MaxMessageBytes: 1 << 20, QueueMaxBytes: 4 << 20,
		DeliveryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 40
	for i := range n {
		v := []byte(fmt.Sprintf("%04d", i) + strings.Repeat("x", 196))
		if _, err := p.Publish(ctx, &bus.Message{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: v}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}

	reg := prometheus.NewRegistry()
	m := bus.NewMetrics(reg, "consumer")
	c, err := bus.NewConsumer(bus.ConsumerConfig{Config: cfg, GroupID: topic + "-group", Topics: []string{topic},
		MaxFetchBytes: 1024, QueueMaxBytes: 2048, SessionTimeout: 10 * time.Second},
		bus.WithMetrics(m), bus.WithStatsInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []int64
	poll := func() {
		t.Helper()
		for {
			msg, err := c.Poll(ctx, time.Second)
			if err != nil {
				t.Fatalf("Poll after %d records: %v", len(got), err)
			}
			if msg != nil {
				got = append(got, msg.Offset)
				return
			}
		}
	}
	poll()
	aheadN, _, _ := bus.FranzAhead(c)
	if aheadN == 0 {
		t.Fatalf("after the first Poll nothing waits ahead: the fetch was not taken whole (or held one record)")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, b, _ := bus.FranzAhead(c); b > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no next fetch buffered in franz-go within 30 s while %d records wait ahead", aheadN)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a, b, _ := bus.FranzAhead(c)
	if a != aheadN {
		t.Fatalf("records ahead went from %d to %d without a Poll", aheadN, a)
	}
	wantBuffered := float64(a + b)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if v := clientGauge(t, reg, "sensornode_kafka_client_buffered_messages", "consumer"); v == wantBuffered {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("buffered messages gauge = %v, want %v (ahead %d + franz-go's)", v, wantBuffered, aheadN)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for len(got) < n {
		poll()
	}
	for i, o := range got {
		if o != int64(i) {
			t.Fatalf("offsets handed out %v, want 0..%d once each, in order", got, n-1)
		}
	}
}
