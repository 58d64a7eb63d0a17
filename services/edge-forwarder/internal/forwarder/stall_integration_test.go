//go:build integration

package forwarder

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// rawReader keeps every record of some cloud topics, with headers and
// timestamps.
type rawReader struct {
	msgs chan *bus.Message
}

func (fx *fixture) readRaw(t *testing.T, topics ...string) *rawReader {
	t.Helper()
	c, err := bus.NewConsumer(bus.ConsumerConfig{Config: bus.Config{Brokers: []string{fx.st.CloudBootstrap()}, ClientID: "fwd-test-raw"},
		GroupID: devstacktest.UniqueTopic(t, "raw"), Topics: topics, MaxFetchBytes: 8 << 20, QueueMaxBytes: 32 << 20, SessionTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rawReader{msgs: make(chan *bus.Message, 1000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		for ctx.Err() == nil {
			if m, err := c.Poll(ctx, 200*time.Millisecond); err == nil && m != nil {
				r.msgs <- m
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// next returns the next n records (by topic), failing after timeout.
func (r *rawReader) next(t *testing.T, n int, timeout time.Duration) map[string][]*bus.Message {
	t.Helper()
	out := map[string][]*bus.Message{}
	deadline := time.After(timeout)
	for range n {
		select {
		case m := <-r.msgs:
			out[m.Topic] = append(out[m.Topic], m)
		case <-deadline:
			t.Fatalf("cloud records: got %v, want %d in all", counts(out), n)
		}
	}
	return out
}

func counts(m map[string][]*bus.Message) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

// A picture that grows past the cloud limit when transcoded to JSON goes
// to the cloud dead-letter topic, cut to fit; the pictures around it are
// forwarded and the edge offsets committed to the end.
func TestIntegrationForwarderOversizeTranscodedPictureDeadLettered(t *testing.T) {
	fx := newFixture(t, 1, 1)
	dlq := messages.DeadLetterTopic(fx.cloudPic)
	devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), dlq, 1, 1)
	sc := scenes{}
	enc := func(size, i int) messages.Encoded {
		e, err := messages.EncodePicture(messages.NewPicture("C1", "node1", base.Add(time.Duration(i)*time.Second),
			sc.jpeg(t, mixedSizes[size], i)), messages.FormBinary)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	small1, big, small2 := enc(0, 1), enc(4, 2), enc(0, 3) // 320x188, 1280x720, 320x188
	bigJSON, err := messages.EncodePicture(messages.NewPicture("C1", "node1", base, sc.jpeg(t, mixedSizes[4], 2)), messages.FormJSON)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fx.config()
	cfg.Form = FormJSON
	// The big picture is over the cloud limit in both forms: its dead
	// letter must be cut.
	cfg.Cloud.MaxMessageBytes = len(big.Value) / 2
	if 2*len(small1.Value) >= cfg.Cloud.MaxMessageBytes || len(bigJSON.Value) <= len(big.Value) {
		t.Fatalf("sizes unfit for the test: big %d (json %d), small %d", len(big.Value), len(bigJSON.Value), len(small1.Value))
	}
	reader := fx.readRaw(t, fx.cloudPic, dlq)
	all := produce(t, fx.edgeProducer(t), []*bus.Message{bus.FromEncoded(fx.nodeTopics[0], small1), bus.FromEncoded(fx.nodeTopics[0], big), bus.FromEncoded(fx.nodeTopics[0], small2)})
	fwd := fx.start(t, cfg, "a")

	got := reader.next(t, 3, 2*time.Minute)
	fx.waitCommitted(t, endOffsets(all), time.Minute)
	if n := len(got[fx.cloudPic]); n != 2 {
		t.Errorf("cloud picture topic got %d records, want 2", n)
	}
	if len(got[dlq]) != 1 {
		t.Fatalf("dead-letter topic got %d records, want 1", len(got[dlq]))
	}
	d := got[dlq][0]
	if r, _ := messages.HeaderValue(d.Headers, messages.HeaderDLQReason); string(r) != "too-large" {
		t.Errorf("reason = %q, want too-large", r)
	}
	if n, _ := messages.HeaderValue(d.Headers, messages.HeaderDLQTruncated); string(n) != strconv.Itoa(len(big.Value)) {
		t.Errorf("truncated header = %q, want %d", n, len(big.Value))
	}
	if len(d.Value) == 0 || len(d.Value) >= len(big.Value) || !bytes.HasPrefix(big.Value, d.Value) {
		t.Errorf("dead letter value: %d bytes, want a proper prefix of the %d-byte original", len(d.Value), len(big.Value))
	}
	if d.Size() > cfg.Cloud.MaxMessageBytes {
		t.Errorf("dead letter of %d bytes > cloud limit %d", d.Size(), cfg.Cloud.MaxMessageBytes)
	}
	if v := fwd.metric("sensornode_forwarder_dead_lettered_total", "reason", "too-large"); v != 1 {
		t.Errorf("dead_lettered_total{reason=too-large} = %v, want 1", v)
	}
	if v := fwd.metric("sensornode_forwarder_partitions_stopped"); v != 0 {
		t.Errorf("partitions_stopped = %v, want 0", v)
	}
}

// A missing cloud dead-letter topic stops only the edge partition whose
// message must be dead-lettered: metric, readiness and no commit past it;
// another partition keeps flowing; once the topic is created the stopped
// partition resumes by itself.
func TestIntegrationForwarderMissingDeadLetterTopicStopsOnePartition(t *testing.T) {
	fx := newFixture(t, 2, 1)
	dlq := messages.DeadLetterTopic(fx.cloudPic)
	sc := scenes{}
	bad := []*bus.Message{
		{Topic: fx.nodeTopics[0], Key: []byte("bad"), Value: []byte("not a picture")},
	}
	good1 := fx.pictureMsgs(t, sc, 1, base, 100)[0] // node1, after the bad one
	node2 := fx.pictureMsgs(t, sc, 5, base, 0)[5:]  // node2's five
	cfg := fx.config()
	cfg.Form = FormJSON
	p := fx.edgeProducer(t)
	s1 := produce(t, p, append(bad, good1))
	s2 := produce(t, p, node2)
	reader := fx.readRaw(t, fx.cloudPic)
	fwd := fx.start(t, cfg, "a")

	got := reader.next(t, 6, 2*time.Minute) // node2's pictures flow, and node1's good one goes once
	if len(got[fx.cloudPic]) != 6 {
		t.Fatalf("cloud picture topic got %v, want 6 pictures", counts(got))
	}
	fx.waitCommitted(t, endOffsets(s2), time.Minute)
	deadline := time.Now().Add(2 * time.Minute) // librdkafka waits topic.metadata.propagation.max.ms (30 s)
	for fwd.metric("sensornode_forwarder_partitions_stopped") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions_stopped = %v, want 1", fwd.metric("sensornode_forwarder_partitions_stopped"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v := fwd.metric("sensornode_forwarder_partition_stops_total", "reason", stopDLQMissing); v < 1 {
		t.Errorf("partition_stops_total{reason=%s} = %v, want >= 1", stopDLQMissing, v)
	}
	if v := fwd.metric("sensornode_ready", "condition", condPartitions); v != 0 {
		t.Errorf("sensornode_ready{condition=%s} = %v, want 0", condPartitions, v)
	}
	if !strings.Contains(fx.logs.String(), "level=ERROR msg=\"edge partition stopped") {
		t.Errorf("no ERROR log line about the stopped partition")
	}
	node1 := bus.TopicPartition{Topic: fx.nodeTopics[0], Partition: 0}
	if c, ok := fx.committed(t)[node1]; ok && c != 0 {
		t.Errorf("stopped partition committed at %d, want nothing past 0", c)
	}

	// Nothing after the stopped message is sent again on every retry:
	// node1's good picture went once (before the dead letter failed).
	time.Sleep(3 * cfg.RetryMaxInterval)
	select {
	case m := <-reader.msgs:
		t.Errorf("while stopped, the cloud got another record on %s (key %q)", m.Topic, m.Key)
	default:
	}

	devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), dlq, 1, 1) // the operator fixes it
	dlqReader := fx.readRaw(t, dlq)
	got = dlqReader.next(t, 1, 2*time.Minute)
	if r, _ := messages.HeaderValue(got[dlq][0].Headers, messages.HeaderDLQReason); string(r) != "unknown-form" {
		t.Errorf("dead letter reason = %q, want unknown-form", r)
	}
	fx.waitCommitted(t, endOffsets(append(s1, s2...)), time.Minute)
	deadline = time.Now().Add(time.Minute)
	for fwd.metric("sensornode_forwarder_partitions_stopped") != 0 || fwd.metric("sensornode_ready", "condition", condPartitions) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions_stopped = %v, ready = %v; want 0, 1", fwd.metric("sensornode_forwarder_partitions_stopped"),
				fwd.metric("sensornode_ready", "condition", condPartitions))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Records older than the cloud producer's delivery timeout are forwarded
// and dead-lettered (the franz client counts the timeout from the record
// timestamp): the cloud record is stamped now, the edge time travels in
// sn-orig-time.
func TestIntegrationForwarderOldTimestamps(t *testing.T) {
	for _, form := range []string{FormPassThrough, FormJSON} {
		t.Run(form, func(t *testing.T) {
			fx := newFixture(t, 1, 1)
			dlq := messages.DeadLetterTopic(fx.cloudPic)
			devstacktest.CreateTopic(t, fx.st.CloudBootstrap(), dlq, 1, 1)
			cfg := fx.config()
			cfg.Form = form
			cfg.Cloud.DeliveryTimeout = 10 * time.Second
			old := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond)
			msgs := fx.pictureMsgs(t, scenes{}, 3, base, 0)
			msgs = append(msgs, &bus.Message{Topic: fx.nodeTopics[0], Key: []byte("bad"), Value: []byte("not a picture")})
			for _, m := range msgs {
				m.Timestamp = old
			}
			// The edge records are written by the confluent client, which
			// takes an old timestamp as given.
			ep, err := bus.NewProducer(bus.ProducerConfig{Config: bus.Config{Brokers: strings.Split(fx.st.EdgeBootstrap(), ","), ClientID: "fwd-test-old",
				Backend: bus.BackendConfluent}, Linger: time.Millisecond, MaxMessageBytes: 8 << 20, QueueMaxBytes: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer ep.Close()
			all := produce(t, ep, msgs)
			reader := fx.readRaw(t, fx.cloudPic, dlq)
			start := time.Now()
			fwd := fx.start(t, cfg, "a")
			got := reader.next(t, 4, 2*time.Minute)
			fx.waitCommitted(t, endOffsets(all), time.Minute)
			wantDLQ := 0
			if form == FormJSON {
				wantDLQ = 1
			}
			if len(got[dlq]) != wantDLQ || len(got[fx.cloudPic]) != 4-wantDLQ {
				t.Errorf("cloud records %v, want %d dead letters", counts(got), wantDLQ)
			}
			for _, ms := range got {
				for _, m := range ms {
					if o, _ := messages.HeaderValue(m.Headers, messages.HeaderOrigTime); string(o) != old.UTC().Format(time.RFC3339Nano) {
						t.Errorf("%s: %s = %q, want %s", m.Topic, messages.HeaderOrigTime, o, old.UTC().Format(time.RFC3339Nano))
					}
					if m.Timestamp.Before(start.Add(-time.Minute)) {
						t.Errorf("%s: record timestamp %v, want the forwarding time (after %v)", m.Topic, m.Timestamp, start)
					}
				}
			}
			if v := fwd.metric("sensornode_forwarder_messages_forwarded_total", "result", "error"); v != 0 {
				t.Errorf("messages_forwarded_total{result=error} = %v, want 0", v)
			}
		})
	}
}
