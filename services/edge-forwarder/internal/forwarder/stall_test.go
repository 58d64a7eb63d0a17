package forwarder

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

// A picture that grows past the cloud limit when transcoded (binary to
// JSON: base64) is a permanent failure: it goes to the dead-letter topic,
// cut to fit, and the partition goes on.
func TestTranscodedPictureOverCloudLimitIsDeadLetteredTruncated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		jpeg := jpegsynth.Picture(jpegsynth.Size320x188, 3)
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		bin, err := messages.EncodePicture(messages.NewPicture("C1", "node1", at, jpeg), messages.FormBinary)
		if err != nil {
			t.Fatal(err)
		}
		js, err := messages.EncodePicture(messages.NewPicture("C1", "node1", at, jpeg), messages.FormJSON)
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		cfg.Form = FormJSON
		// The binary form (what the edge holds) fits, its JSON form does not.
		cfg.Cloud.MaxMessageBytes = (len(bin.Value) + len(js.Value)) / 2
		if len(bin.Value) >= cfg.Cloud.MaxMessageBytes {
			t.Fatalf("picture too small for the test: binary %d, json %d", len(bin.Value), len(js.Value))
		}
		h := startHarness(t, cfg, func(h *harness) {
			for i := range 3 {
				// The commit check reads the source offset from the key,
				// which a dead letter keeps.
				h.append(&bus.Message{Topic: node1.Topic, Partition: node1.Partition,
					Key: []byte(key(node1, i)), Value: bin.Value, Headers: bin.Headers, Timestamp: at})
			}
		})
		dlq := messages.DeadLetterTopic(messages.TopicCamera)
		h.waitFor("three dead letters and the edge offset committed to 3", func() bool {
			return len(h.cloud.Records(dlq)) >= 3 && h.committed(node1) == 3
		})
		for _, m := range h.cloud.Records(dlq) {
			if m.Size() > cfg.Cloud.MaxMessageBytes {
				t.Errorf("dead letter of %d bytes > cloud limit %d", m.Size(), cfg.Cloud.MaxMessageBytes)
			}
			if r, _ := messages.HeaderValue(m.Headers, messages.HeaderDLQReason); string(r) != "too-large" {
				t.Errorf("reason = %q, want too-large", r)
			}
			if n, _ := messages.HeaderValue(m.Headers, messages.HeaderDLQTruncated); string(n) != strconv.Itoa(len(bin.Value)) {
				t.Errorf("truncated header = %q, want %d", n, len(bin.Value))
			}
			if !bytes.HasPrefix(bin.Value, m.Value) {
				t.Errorf("dead letter value is not a prefix of the original")
			}
			if o, _ := messages.HeaderValue(m.Headers, messages.HeaderOrigTime); string(o) != at.Format(time.RFC3339Nano) {
				t.Errorf("original time header = %q, want %s", o, at.Format(time.RFC3339Nano))
			}
		}
		if n := len(h.cloud.Records(messages.TopicCamera)); n != 0 {
			t.Errorf("cloud picture topic holds %d messages, want 0", n)
		}
		for _, v := range h.cons.violationList() {
			t.Errorf("commit violation: %s", v)
		}
	})
}

// A missing cloud dead-letter topic stops only the partition whose message
// must be dead-lettered: paused, retried slowly, counted, never committed
// past; the other partitions keep flowing. Once the topic is there, the
// partition resumes by itself.
func TestMissingDeadLetterTopicStopsOnlyThatPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Form = FormJSON
		cfg.RetryMaxInterval = time.Second
		reading := func(i int) messages.Encoded {
			e, err := messages.EncodeTemperature(messages.TemperatureReading{NodeID: "node1",
				ReadAt: time.Date(2026, 5, 1, 12, 0, i, 0, time.UTC), TemperatureCelsius: 40, Source: "sysfs"}, messages.FormBinary)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		dlq := messages.DeadLetterTopic(messages.TopicCamera)
		h := startHarness(t, cfg, func(h *harness) {
			if err := h.cloud.DeleteTopic(dlq); err != nil {
				t.Fatal(err)
			}
			h.append(&bus.Message{Topic: node1.Topic, Key: []byte(key(node1, 0)), Value: []byte("not a picture")})
			h.append(&bus.Message{Topic: node1.Topic, Key: []byte(key(node1, 1)), Value: []byte("not a picture either")})
			for i := range 50 {
				e := reading(i)
				h.append(&bus.Message{Topic: tempL.Topic, Partition: tempL.Partition, Key: e.Key, Value: e.Value, Headers: e.Headers})
			}
		})
		h.waitFor("the readings partition fully forwarded and committed", func() bool {
			return h.committed(tempL) == 50
		})
		h.waitFor("the stopped-partitions gauge at 1", func() bool {
			v := svctest.Metric(t, h.reg, "sensornode_forwarder_partitions_stopped")
			return v == 1
		})
		rewinds0 := svctest.Metric(t, h.reg, "sensornode_forwarder_rewinds_total")
		time.Sleep(1500 * time.Millisecond)
		if rewinds := svctest.Metric(t, h.reg, "sensornode_forwarder_rewinds_total"); rewinds-rewinds0 > 2 {
			t.Errorf("stopped partition rewound %v times in 1.5 s, want at most 2 (slow retry)", rewinds-rewinds0)
		}
		if c := h.committed(node1); c != 0 {
			t.Errorf("stopped partition committed to %d, want 0", c)
		}
		if err := h.probe.Ready(); err == nil || !strings.Contains(err.Error(), "node1") {
			t.Errorf("Ready() = %v, want an error naming the stopped partition node1", err)
		}
		if v := svctest.Metric(t, h.reg, "sensornode_forwarder_partition_stops_total", "reason", "dead-letter-topic-missing"); v < 1 {
			t.Errorf("partition_stops_total{reason=dead-letter-topic-missing} = %v, want >= 1", v)
		}

		if err := h.cloud.CreateTopic(dlq, 1, nil); err != nil { // the operator creates the topic
			t.Fatal(err)
		}
		h.waitFor("the stopped partition to resume and commit both dead letters", func() bool {
			return h.committed(node1) == 2
		})
		h.waitFor("the stopped-partitions gauge back at 0", func() bool {
			v := svctest.Metric(t, h.reg, "sensornode_forwarder_partitions_stopped")
			return v == 0
		})
		if err := h.probe.Ready(); err != nil {
			t.Errorf("Ready() after the topic came = %v, want nil", err)
		}
		if n := len(h.cloud.Records(dlq)); n < 2 {
			t.Errorf("dead-letter topic holds %d messages, want 2", n)
		}
		if n := len(h.cloud.Records(messages.TopicTemperature)); n < 50 {
			t.Errorf("cloud temperature topic holds %d messages, want 50", n)
		}
		// Transcoded readings get new keys, which the commit check cannot
		// trace back to their source: check the commits of the stopped
		// partition only.
		for _, v := range h.cons.violationList() {
			if strings.HasPrefix(v, "committed "+node1.Topic+"[") {
				t.Errorf("commit violation: %s", v)
			}
		}
	})
}

// Every re-publish leaves the timestamp to the client and keeps the
// original time in a header.
func TestRepublishKeepsOriginalTimeInHeader(t *testing.T) {
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, form := range []string{FormPassThrough, FormJSON} {
		t.Run(form, func(t *testing.T) {
			cfg := testConfig()
			cfg.Form = form
			f, err := New(cfg, nil, discard(), NewMetrics(prometheus.NewRegistry()), Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := f.transform(&bus.Message{Topic: "node1", Value: []byte("not a picture"), Timestamp: old}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Timestamp.IsZero() {
				t.Errorf("timestamp = %v, want zero", out.Timestamp)
			}
			if o, _ := messages.HeaderValue(out.Headers, messages.HeaderOrigTime); string(o) != old.Format(time.RFC3339Nano) {
				t.Errorf("%s header = %q, want %s", messages.HeaderOrigTime, o, old.Format(time.RFC3339Nano))
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name       string
		give       error
		deadLetter bool
		want       action
		wantReason string
	}{
		{name: "timeout", give: errTimeout, want: actRetry},
		{name: "cloud topic not known yet", give: bus.ErrUnknownTopic, want: actRetry},
		{name: "cloud topic confirmed missing", give: bus.Permanent(bus.ErrUnknownTopic), want: actStop, wantReason: stopTopicGone},
		{name: "too large for the cloud", give: fmt.Errorf("produce: %w", bus.ErrTooLarge), want: actDeadLetter},
		{name: "refused (permanent)", give: bus.Permanent(errors.New("authorization failed")), want: actDeadLetter},
		{name: "dead letter: timeout", give: errTimeout, deadLetter: true, want: actRetry},
		{name: "dead letter: topic missing", give: bus.ErrUnknownTopic, deadLetter: true, want: actStop, wantReason: stopDLQMissing},
		{name: "dead letter: too large", give: bus.ErrTooLarge, deadLetter: true, want: actStop, wantReason: stopDLQTooLarge},
		{name: "dead letter: refused", give: bus.Permanent(errors.New("authorization failed")), deadLetter: true, want: actStop, wantReason: stopDLQRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := classify(tt.give, tt.deadLetter)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("classify(%v, %v) = %v, %q; want %v, %q", tt.give, tt.deadLetter, got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

// The tracker remembers which offsets must be dead-lettered and which
// partition is stopped, across rewinds, until an acknowledgement.
func TestTrackerDeadLetterAndStopState(t *testing.T) {
	tr := newTracker()
	e0, gen := tr.add(node1, 0, 1, false)
	tr.report(node1, gen, e0, bus.ErrTooLarge)
	if err := tr.deadLetterCause(node1, 0); !errors.Is(err, bus.ErrTooLarge) {
		t.Fatalf("deadLetterCause(0) = %v, want ErrTooLarge", err)
	}
	if off, ok := tr.rewindPoint(node1); !ok || off != 0 {
		t.Fatalf("rewindPoint = %d, %v; want 0, true", off, ok)
	}
	tr.rewound(node1)
	d0, gen := tr.add(node1, 0, 1, true)
	e1, _ := tr.add(node1, 1, 1, false)
	tr.report(node1, gen, d0, bus.ErrUnknownTopic)
	tr.report(node1, gen, e1, nil) // a later message got through: still stopped
	if st := tr.stopped(); st[node1].reason != stopDLQMissing || st[node1].offset != 0 {
		t.Fatalf("stopped() = %+v, want node1 at 0 (%s)", st, stopDLQMissing)
	}
	if len(tr.stopped()) != 1 {
		t.Fatalf("an acknowledgement after the stopped offset cleared the stop")
	}
	tr.rewound(node1)
	if len(tr.stopped()) != 1 || tr.deadLetterCause(node1, 0) == nil {
		t.Fatalf("a rewind cleared the stop or the dead-letter cause")
	}
	d0, gen = tr.add(node1, 0, 1, true)
	tr.report(node1, gen, d0, nil)
	if len(tr.stopped()) != 0 || tr.deadLetterCause(node1, 0) != nil {
		t.Errorf("after the dead letter was acknowledged: stopped() = %v, cause = %v; want none", tr.stopped(), tr.deadLetterCause(node1, 0))
	}
	if offs := tr.committable(nil); len(offs) != 1 || offs[0].Offset != 1 {
		t.Errorf("committable = %v, want node1@1", offs)
	}
}
