package bus

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

func header(hs []messages.Header, key string) (string, bool) {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func TestRepublished(t *testing.T) {
	ts := time.Date(2020, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	in := &Message{Topic: "node1", Partition: 2, Offset: 9, Key: []byte("k"), Value: []byte("v"),
		Headers: []messages.Header{{Key: "a", Value: []byte("1")}}, Timestamp: ts}
	out := Republished(in, "cameraData")
	if out.Topic != "cameraData" || !out.Timestamp.IsZero() || string(out.Key) != "k" || string(out.Value) != "v" {
		t.Fatalf("got %+v", out)
	}
	if got, _ := header(out.Headers, messages.HeaderOrigTime); got != "2020-01-02T02:04:05.000000006Z" {
		t.Fatalf("orig time %q", got)
	}
	if len(in.Headers) != 1 {
		t.Fatalf("input headers changed: %v", in.Headers)
	}
	// A second hop keeps the first hop's time.
	out.Timestamp = ts.Add(time.Hour)
	again := Republished(out, "x")
	n := 0
	for _, h := range again.Headers {
		if h.Key == messages.HeaderOrigTime {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d orig-time headers after two hops", n)
	}
	// No timestamp, no header.
	if _, ok := header(Republished(&Message{}, "x").Headers, messages.HeaderOrigTime); ok {
		t.Fatal("orig-time header without a timestamp")
	}
}

func TestDeadLetter(t *testing.T) {
	cause := messages.ErrBadJSON
	big := bytes.Repeat([]byte("x"), 20000)
	hdrs := func(n int) []messages.Header {
		return []messages.Header{{Key: "h", Value: bytes.Repeat([]byte("y"), n)}}
	}
	for _, tc := range []struct {
		name      string
		msg       Message
		max       int
		wantValue int // -1: untouched
		truncated bool
		dropped   bool
		wantErr   bool
	}{
		{name: "fits", msg: Message{Key: []byte("k"), Value: []byte("abc"), Headers: hdrs(10)}, max: 1 << 20, wantValue: -1},
		{name: "value cut", msg: Message{Key: []byte("k"), Value: big, Headers: hdrs(10)}, max: 4096 + 10000, truncated: true},
		{name: "headers too large", msg: Message{Key: bytes.Repeat([]byte("k"), 100), Value: big, Headers: hdrs(30000)}, max: 4096 + 2000, wantValue: 0, truncated: true, dropped: true},
		{name: "key cut", msg: Message{Key: bytes.Repeat([]byte("k"), 5000), Value: big}, max: 4096 + 2000, wantValue: 0, truncated: true, dropped: true},
		{name: "impossible", msg: Message{Key: []byte("k"), Value: big}, max: 4096 + 10, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.msg.Topic, tc.msg.Partition, tc.msg.Offset, tc.msg.Timestamp = "cameraData", 3, 77, time.Unix(1, 0)
			out, err := DeadLetter(&tc.msg, "cameraData-dlq", cause, tc.max)
			if tc.wantErr {
				if err == nil || !IsPermanent(err) {
					t.Fatalf("err = %v, want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Topic != "cameraData-dlq" || !out.Timestamp.IsZero() {
				t.Fatalf("topic %q timestamp %v", out.Topic, out.Timestamp)
			}
			if out.Size() > tc.max-dlqOverhead {
				t.Fatalf("size %d > limit %d", out.Size(), tc.max-dlqOverhead)
			}
			for key, want := range map[string]string{
				messages.HeaderDLQReason: messages.Reason(cause),
				messages.HeaderDLQTopic:  "cameraData",
				messages.HeaderDLQOffset: "3:77",
				messages.HeaderOrigTime:  "1970-01-01T00:00:01Z",
				messages.HeaderDLQError:  cause.Error(),
			} {
				if got, _ := header(out.Headers, key); got != want {
					t.Errorf("header %s = %q, want %q", key, got, want)
				}
			}
			if tc.wantValue >= 0 && len(out.Value) != tc.wantValue && !tc.truncated {
				t.Errorf("value %d bytes", len(out.Value))
			}
			if tc.wantValue == -1 && !bytes.Equal(out.Value, tc.msg.Value) {
				t.Errorf("value changed")
			}
			got, ok := header(out.Headers, messages.HeaderDLQTruncated)
			if ok != tc.truncated || (ok && got != strconv.Itoa(len(tc.msg.Value))) {
				t.Errorf("truncated header %q %v, want %v", got, ok, tc.truncated)
			}
			if tc.truncated && !bytes.HasPrefix(tc.msg.Value, out.Value) {
				t.Errorf("cut value is not a prefix of the original")
			}
			if _, ok := header(out.Headers, messages.HeaderDLQHeadersDropped); ok != tc.dropped {
				t.Errorf("headers-dropped header %v, want %v", ok, tc.dropped)
			}
			if tc.dropped && !bytes.HasPrefix(tc.msg.Key, out.Key) {
				t.Errorf("cut key is not a prefix of the original")
			}
		})
	}
}

func TestIsPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrBrokersDown, false},
		{ErrDeliveryTimed, false},
		{ErrUnknownTopic, false},
		{ErrTooLarge, true},
		{Permanent(ErrUnknownTopic), true},
		{Permanent(Permanent(errors.New("x"))), true},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	if e := Permanent(Permanent(errors.New("x"))); strings.Count(e.Error(), "permanent") != 1 {
		t.Errorf("double wrap: %v", e)
	}
}

func TestConfirmMissing(t *testing.T) {
	unknown := fmt.Errorf("%w: UNKNOWN_TOPIC_OR_PARTITION", ErrUnknownTopic)
	absent := func(string) (bool, error) { return false, nil }
	present := func(string) (bool, error) { return true, nil }
	down := func(string) (bool, error) { return false, errors.New("no broker") }
	never := func(string) (bool, error) {
		t.Fatal("metadata asked for an error that is not ErrUnknownTopic")
		return false, nil
	}
	for _, c := range []struct {
		name      string
		err       error
		exists    func(string) (bool, error)
		permanent bool
	}{
		{"absent", unknown, absent, true},
		{"still propagating", unknown, present, false},
		{"metadata fails", unknown, down, false},
		{"other error", ErrDeliveryTimed, never, false},
		{"nil", nil, never, false},
	} {
		got := confirmMissing(c.err, "t", c.exists)
		if IsPermanent(got) != c.permanent {
			t.Errorf("%s: IsPermanent(%v) = %v, want %v", c.name, got, !c.permanent, c.permanent)
		}
		if c.err != nil && !errors.Is(got, c.err) {
			t.Errorf("%s: %v lost %v from its chain", c.name, got, c.err)
		}
	}
}

func TestIsPermanentClasses(t *testing.T) {
	for _, err := range []error{ErrTooLarge, ErrNotAuthorized, ErrInvalidRecord, notAuthorized(errors.New("x")), Permanent(ErrUnknownTopic)} {
		if !IsPermanent(fmt.Errorf("wrapped: %w", err)) {
			t.Errorf("IsPermanent(%v) = false", err)
		}
	}
	for _, err := range []error{ErrUnknownTopic, ErrDeliveryTimed, ErrBrokersDown, ErrClosed, ErrFatal} {
		if IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = true", err)
		}
	}
}
