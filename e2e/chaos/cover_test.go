package chaos

import (
	"errors"
	"fmt"
	"image"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

// coverFixture is a committed cloud partition pair: a binary and a JSON
// picture, a binary and a JSON reading, a malformed record, what HDFS holds
// of them and the malformed record's dead letter as cloud-ingest-hdfs
// writes it.
type coverFixture struct {
	recs     []Record
	pictures map[string][32]byte
	readings map[string]int
	dead     []DeadLetter
	// malformed is the undecodable record as consumed.
	malformed *bus.Message
}

func newCoverFixture(t *testing.T) *coverFixture {
	t.Helper()
	f := &coverFixture{pictures: map[string][32]byte{}, readings: map[string]int{}}
	at := time.Date(2026, 12, 7, 10, 0, 1, 250_000_000, time.UTC)
	add := func(topic string, offset int64, enc messages.Encoded) {
		f.recs = append(f.recs, RecordOf(Position{topic, 0, offset}, enc.Key, enc.Value, enc.Headers))
	}
	for i, form := range []messages.Form{messages.FormBinary, messages.FormJSON} {
		p := messages.NewPicture("C1", "node1", at.Add(time.Duration(i)*time.Second), jpegsynth.Picture(image.Pt(64, 48), uint64(i)))
		enc, err := messages.EncodePicture(p, form)
		if err != nil {
			t.Fatal(err)
		}
		add("cameraData", int64(i), enc)
		f.pictures[fmt.Sprintf("/camera/C1/%d.jpg", i)] = p.SHA256
		r := messages.TemperatureReading{NodeID: "node1", ReadAt: at.Add(time.Duration(i) * time.Second), TemperatureCelsius: 41.5, Source: "synthetic"}
		if enc, err = messages.EncodeTemperature(r, form); err != nil {
			t.Fatal(err)
		}
		add("temperatureData", int64(i), enc)
		f.readings[r.Identity()] = 1
	}
	f.malformed = &bus.Message{Topic: "temperatureData", Partition: 0, Offset: 2, Key: []byte("m1"), Value: []byte("m1: {not a picture nor a reading")}
	add("temperatureData", 2, messages.Encoded{Key: f.malformed.Key, Value: f.malformed.Value})
	f.deadLetter(t, f.malformed, 1<<20)
	return f
}

// deadLetter adds msg's dead letter, built by bus.DeadLetter for a topic
// whose records weigh at most maxBytes.
func (f *coverFixture) deadLetter(t *testing.T, msg *bus.Message, maxBytes int) {
	t.Helper()
	out, err := bus.DeadLetter(msg, messages.DeadLetterTopic(msg.Topic), errors.New("decode: not a JSON object"), maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	f.dead = append(f.dead, DeadLetterOf(out.Value, out.Headers))
}

func TestCover(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*testing.T, *coverFixture)
		want   []string // substrings, one uncovered line each
	}{
		{name: "everything covered", mutate: func(*testing.T, *coverFixture) {}},
		{name: "uncovered picture", want: []string{"committed cameraData/0 offset 1: picture "},
			mutate: func(_ *testing.T, f *coverFixture) { delete(f.pictures, "/camera/C1/1.jpg") }},
		{name: "uncovered reading", want: []string{"committed temperatureData/0 offset 0: reading node1|2026-12-07T10:00:01Z|synthetic|41.5 neither"},
			mutate: func(_ *testing.T, f *coverFixture) { delete(f.readings, "node1|2026-12-07T10:00:01Z|synthetic|41.5") }},
		{name: "reading stored 0 times", want: []string{"offset 1: reading node1|2026-12-07T10:00:02Z|synthetic|41.5"},
			mutate: func(_ *testing.T, f *coverFixture) { f.readings["node1|2026-12-07T10:00:02Z|synthetic|41.5"] = 0 }},
		{name: "malformed record not dead-lettered", want: []string{`temperatureData/0 offset 2: undecodable record (key "m1"`},
			mutate: func(_ *testing.T, f *coverFixture) { f.dead = nil }},
		{name: "dead letter of another offset", want: []string{"temperatureData/0 offset 2: undecodable"},
			mutate: func(t *testing.T, f *coverFixture) {
				f.dead = nil
				m := *f.malformed
				m.Offset = 3
				f.deadLetter(t, &m, 1<<20)
			}},
		{name: "dead letter of another value at the offset", want: []string{"temperatureData/0 offset 2: undecodable"},
			mutate: func(t *testing.T, f *coverFixture) {
				f.dead = nil
				m := *f.malformed
				m.Value = []byte("m0: of a recreated topic's old incarnation")
				f.deadLetter(t, &m, 1<<20)
			}},
		{name: "dead letter cut to fit its topic", mutate: func(t *testing.T, f *coverFixture) {
			f.dead = nil
			m := *f.malformed
			m.Value = append([]byte(nil), make([]byte, 8000)...)
			f.recs[len(f.recs)-1] = RecordOf(Position{m.Topic, m.Partition, m.Offset}, m.Key, m.Value, nil)
			f.deadLetter(t, &m, 4096+1000)
			if !f.dead[0].Truncated {
				t.Fatalf("dead letter not cut: %+v", f.dead[0])
			}
		}},
		{name: "dead letter without its position, same value", mutate: func(_ *testing.T, f *coverFixture) {
			f.dead = []DeadLetter{{Value: f.recs[len(f.recs)-1].Value}}
		}},
		{name: "decoded picture dead-lettered (bad id) is covered", mutate: func(t *testing.T, f *coverFixture) {
			delete(f.pictures, "/camera/C1/0.jpg")
			r := f.recs[0]
			f.dead = append(f.dead, DeadLetter{From: r.Position, Value: r.Value})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newCoverFixture(t)
			tc.mutate(t, f)
			wantLinesLike(t, "Cover", Cover(f.recs, f.pictures, f.readings, f.dead), tc.want)
		})
	}
}

func TestCoverCapsTheList(t *testing.T) {
	var recs []Record
	for i := range MaxUncovered + 5 {
		recs = append(recs, RecordOf(Position{"temperatureData", 1, int64(i)}, nil, []byte("junk"), nil))
	}
	got := Cover(recs, nil, nil, nil)
	if len(got) != MaxUncovered+1 || got[MaxUncovered] != "... and 5 more committed cloud records not covered" {
		t.Errorf("Cover of %d uncovered = %d lines, last %q", len(recs), len(got), got[len(got)-1])
	}
}

func TestRecordOfDecodesBothForms(t *testing.T) {
	f := newCoverFixture(t)
	for _, r := range f.recs[:4] {
		if r.Err != "" || r.Kind == "" {
			t.Errorf("RecordOf(%s) = %+v, want it decoded", r.Position, r)
		}
	}
	if r := f.recs[4]; r.Kind != "" || r.Err == "" {
		t.Errorf("RecordOf(malformed) = %+v, want undecodable", r)
	}
}
