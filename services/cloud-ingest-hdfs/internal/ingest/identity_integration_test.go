//go:build integration

package ingest

import (
	"errors"
	"fmt"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

// TestIntegrationPictureIdentityAndMigration, on real Kafka and HDFS:
//   - pictures stored by the previous version under legacy keys (ms in the
//     key) are not stored again when replayed after the upgrade, from either
//     form, with or without their old Kafka key (the migration rule);
//   - the same picture arriving in both forms is stored once, and two
//     pictures of one camera within one second are both stored;
//   - a binary picture whose sn-node header would escape the picture
//     directory is dead-lettered with reason bad-id, and nothing is written
//     outside the layout.
func TestIntegrationPictureIdentityAndMigration(t *testing.T) {
	fx := newIFixture(t, 1)
	scs := map[image.Point]*jpegsynth.Scene{}
	at := time.Date(2026, 5, 1, 12, 30, 45, 123_000_000, time.UTC)
	legacyPath := func(p messages.Picture, keyAt time.Time) string {
		return fmt.Sprintf("%s/camera/%s/2026/05/01/123045-%s.jpg", fx.root, p.CameraID, legacyKey(p.CameraID, keyAt, p.SHA256))
	}
	put := func(name string, data []byte) {
		t.Helper()
		if err := fx.fs.MkdirAll(name[:strings.LastIndexByte(name, '/')], 0o755); err != nil {
			t.Fatal(err)
		}
		w, err := fx.fs.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		// Close is retried while the NameNode says the last block is
		// still replicating, as the service's own writer does.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			err := w.Close()
			if err == nil {
				break
			}
			if !errors.Is(err, hdfs.ErrReplicating) || time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
	}
	pic := func(cam string, d time.Duration, i int) messages.Picture {
		return messages.NewPicture(cam, "node1", at.Add(d), distinctJPEG(t, scs, jpegsynth.Size320x188, i))
	}
	enc := func(p messages.Picture, f messages.Form, key string) *bus.Message {
		e, err := messages.EncodePicture(p, f)
		if err != nil {
			t.Fatal(err)
		}
		m := bus.FromEncoded(fx.camTopic, e)
		m.Key = []byte(key)
		if key == "-" {
			m.Key = nil
		}
		return m
	}
	// Stored by the previous version.
	a, b, c := pic("C1", 0, 1), pic("C1", 0, 2), pic("C2", 0, 3)
	put(legacyPath(a, at), a.Data)                       // binary, key to the ms
	put(legacyPath(b, at.Truncate(time.Second)), b.Data) // JSON, key .000
	put(legacyPath(c, at), c.Data)                       // binary, replayed transcoded to JSON
	// New after the upgrade: d in both forms; e another picture of C1 in
	// the same second.
	d, e := pic("C3", 0, 4), pic("C3", 400*time.Millisecond, 5)
	msgs := []*bus.Message{
		enc(a, messages.FormBinary, legacyKey(a.CameraID, at, a.SHA256)),
		enc(a, messages.FormBinary, "-"),
		enc(b, messages.FormJSON, legacyKey(b.CameraID, at.Truncate(time.Second), b.SHA256)),
		enc(b, messages.FormJSON, "-"),
		enc(c, messages.FormJSON, legacyKey(c.CameraID, at, c.SHA256)),
		enc(d, messages.FormBinary, d.Key()),
		enc(d, messages.FormJSON, "-"),
		enc(e, messages.FormJSON, e.Key()),
	}
	evil := enc(pic("C4", 0, 6), messages.FormBinary, "")
	for i := range evil.Headers {
		if evil.Headers[i].Key == messages.HeaderNode {
			evil.Headers[i].Value = []byte("../../escaped")
		}
	}
	msgs = append(msgs, evil)
	publishAll(t, fx.producer(t), msgs)

	cfg := fx.config()
	cfg.PictureLayout = fx.root + "/camera/{camera}/{node}/../{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	if cfg.Validate() == nil {
		t.Fatal("a layout with .. validates") // the layout itself cannot escape
	}
	cfg = fx.config()
	run := fx.start(t, cfg)
	waitUntil(t, "every message handled", time.Minute, func() bool {
		return run.metric("sensornode_ingest_messages_total", "kind", "picture") >= float64(len(msgs))
	})
	waitUntil(t, "offsets committed", 30*time.Second, func() bool { return fx.committed(t)[fx.camTopic] == int64(len(msgs)) })

	files := fx.pictureFiles(t)
	want := map[string][32]byte{
		legacyPath(a, at):                       a.SHA256,
		legacyPath(b, at.Truncate(time.Second)): b.SHA256,
		legacyPath(c, at):                       c.SHA256,
		fmt.Sprintf("%s/camera/C3/2026/05/01/123045-%s.jpg", fx.root, d.Key()): d.SHA256,
		fmt.Sprintf("%s/camera/C3/2026/05/01/123045-%s.jpg", fx.root, e.Key()): e.SHA256,
	}
	for name, sum := range want {
		if files[name] != sum {
			t.Errorf("%s missing or not byte-identical", name)
		}
	}
	for name := range files {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected picture file %s", name)
		}
	}
	if got := run.metric("sensornode_ingest_messages_total", "kind", "picture", "result", "duplicate"); got != 6 {
		t.Errorf("picture duplicates = %v, want 6 (5 legacy replays, 1 cross-form)", got)
	}
	dl := fx.deadLetters(t, fx.camTopic, 1)
	if len(dl) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dl))
	}
	if r, _ := messages.HeaderValue(dl[0].Headers, messages.HeaderDLQReason); string(r) != "bad-id" {
		t.Errorf("dead letter reason %q, want bad-id", r)
	}
	if _, err := fx.fs.Stat(fx.root + "/escaped"); err == nil {
		t.Errorf("%s/escaped exists: the node id escaped the layout", fx.root)
	}
}

// TestIntegrationReadingIdentityAcrossForms, on real Kafka and HDFS: the
// same reading in both forms is stored once; readings of one node within
// one second with different values are all stored.
func TestIntegrationReadingIdentityAcrossForms(t *testing.T) {
	fx := newIFixture(t, 1)
	at := time.Date(2026, 5, 1, 12, 30, 45, 123_456_789, time.UTC)
	var msgs []*bus.Message
	want := map[string]bool{}
	for i := range 5 {
		r := messages.TemperatureReading{NodeID: "node1", ReadAt: at.Add(time.Duration(i) * 100 * time.Millisecond), TemperatureCelsius: 45 + float64(i)/10, Source: "sysfs"}
		for _, f := range []messages.Form{messages.FormBinary, messages.FormJSON} {
			e, err := messages.EncodeTemperature(r, f)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, bus.FromEncoded(fx.tempTopic, e))
		}
		want[r.Identity()] = true
	}
	publishAll(t, fx.producer(t), msgs)
	run := fx.start(t, fx.config())
	waitUntil(t, "every reading handled", time.Minute, func() bool {
		return run.metric("sensornode_ingest_messages_total", "kind", "temperature") >= float64(len(msgs))
	})
	waitUntil(t, "offsets committed", 30*time.Second, func() bool { return fx.committed(t)[fx.tempTopic] == int64(len(msgs)) })
	counts := fx.readingCounts(t)
	for id := range want {
		if counts[id] != 1 {
			t.Errorf("reading %s stored %d times, want 1", id, counts[id])
		}
	}
	if len(counts) != len(want) {
		t.Errorf("%d distinct readings stored, want %d: %v", len(counts), len(want), counts)
	}
}
