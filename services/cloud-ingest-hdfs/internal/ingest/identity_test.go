package ingest

import (
	"bytes"
	"encoding/hex"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

// legacyKey is the picture key format before issue 11 (millisecond time),
// spelled out here so the test does not depend on the code under test.
func legacyKey(cam string, at time.Time, sum [32]byte) string {
	return cam + "-" + at.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(sum[:8])
}

// TestCrossFormIdentity: a picture or reading arriving in both forms is
// stored once; distinct pictures or readings within one second are all
// stored.
func TestCrossFormIdentity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2026, 5, 1, 12, 30, 45, 123_456_789, time.UTC)
		cl := newCluster()
		p, eb := mustPicture(t, "C1", at, 1, messages.FormBinary)
		_, ej := mustPicture(t, "C1", at, 1, messages.FormJSON)
		q, eq := mustPicture(t, "C1", at.Add(300*time.Millisecond), 2, messages.FormJSON) // same second, other picture
		appendMsg(t, cl, camTP, eb)
		appendMsg(t, cl, camTP, ej)
		appendMsg(t, cl, camTP, eq)

		r := messages.TemperatureReading{NodeID: "node1", ReadAt: at, TemperatureCelsius: 48.3, Source: "sysfs"}
		s := r
		s.ReadAt, s.TemperatureCelsius = at.Add(400*time.Millisecond), 48.4 // same second, other value
		for _, x := range []struct {
			r messages.TemperatureReading
			f messages.Form
		}{{r, messages.FormBinary}, {r, messages.FormJSON}, {s, messages.FormJSON}} {
			e, err := messages.EncodeTemperature(x.r, x.f)
			if err != nil {
				t.Fatal(err)
			}
			appendMsg(t, cl, tempTP, e)
		}

		fs := newMemFS()
		run := start(t, testConfig(), fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return run.committed(camTP) == 3 && run.committed(tempTP) == 3 })
		if err := run.stop(); err != nil {
			t.Fatal(err)
		}
		files := fs.under("/t/camera")
		if len(files) != 2 {
			t.Errorf("picture files = %v, want 2 (one per distinct picture)", keys(files))
		}
		var gotP, gotQ int
		for _, data := range files {
			switch {
			case bytes.Equal(data, p.Data):
				gotP++
			case bytes.Equal(data, q.Data):
				gotQ++
			}
		}
		if gotP != 1 || gotQ != 1 {
			t.Errorf("picture stored %d times, same-second other picture %d times; want 1 and 1", gotP, gotQ)
		}
		readings := map[float64]int{}
		for name, b := range fs.under("/t/temperature") {
			rs, err := archive.DecodeReadings(b, testConfig().TemperatureFormat)
			if err != nil {
				t.Fatalf("parse %s: %v", name, err)
			}
			for _, x := range rs {
				readings[x.Celsius]++
			}
		}
		if readings[48.3] != 1 || readings[48.4] != 1 || len(readings) != 2 {
			t.Errorf("readings stored (celsius -> times) = %v, want 48.3 and 48.4 once each", readings)
		}
	})
}

// TestLegacyPictureKeysNotStoredAgain: pictures stored under the
// pre-issue-11 keys (milliseconds in the key) are not stored again under
// the new key when replayed after an upgrade, in either form, with or
// without their original Kafka key.
func TestLegacyPictureKeysNotStoredAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2026, 5, 1, 12, 30, 45, 123_000_000, time.UTC)
		fs := newMemFS()
		legacyPath := func(p messages.Picture, keyAt time.Time) string {
			return "/t/camera/" + p.CameraID + "/2026/05/01/123045-" + legacyKey(p.CameraID, keyAt, p.SHA256) + ".jpg"
		}
		// Stored by the old version: a from binary (key to the ms), b from
		// JSON (key .000), c from binary and now replayed transcoded to JSON
		// with its original key.
		a, ea := mustPicture(t, "C1", at, 11, messages.FormBinary)
		b, eb := mustPicture(t, "C1", at, 12, messages.FormJSON)
		c, _ := mustPicture(t, "C2", at, 13, messages.FormBinary)
		_, ec := mustPicture(t, "C2", at, 13, messages.FormJSON)
		fs.files[legacyPath(a, at)] = a.Data
		fs.files[legacyPath(b, at.Truncate(time.Second))] = b.Data
		fs.files[legacyPath(c, at)] = c.Data

		cl := newCluster()
		ea.Key = []byte(legacyKey(a.CameraID, at, a.SHA256)) // replayed as the old producer keyed it
		appendMsg(t, cl, camTP, ea)
		ea.Key = nil
		appendMsg(t, cl, camTP, ea)
		eb.Key = []byte(legacyKey(b.CameraID, at.Truncate(time.Second), b.SHA256))
		appendMsg(t, cl, camTP, eb)
		eb.Key = nil // keyless thesis producer
		appendMsg(t, cl, camTP, eb)
		ec.Key = []byte(legacyKey(c.CameraID, at, c.SHA256)) // transcoded, original key kept
		appendMsg(t, cl, camTP, ec)
		// A new picture after the upgrade is stored under the new key.
		d, ed := mustPicture(t, "C1", at, 14, messages.FormBinary)
		appendMsg(t, cl, camTP, ed)

		run := start(t, testConfig(), fs, cl)
		svctest.Eventually(t, 10*time.Second, "all committed", func() bool { return run.committed(camTP) == 6 })
		files := fs.under("/t/camera")
		if len(files) != 4 {
			t.Errorf("picture files = %v, want the 3 legacy ones and 1 new", keys(files))
		}
		newPath := "/t/camera/C1/2026/05/01/123045-" + d.Key() + ".jpg"
		if !bytes.Equal(files[newPath], d.Data) {
			t.Errorf("new picture not at %s; files %v", newPath, keys(files))
		}
		if got := testutil.ToFloat64(run.m.messages.WithLabelValues(kindPicture, resultDuplicate)); got != 5 {
			t.Errorf("duplicates = %v, want 5", got)
		}
	})
}
