package messages

import (
	"testing"
	"time"
)

// TestPictureIdentityFormIndependent: the same picture has one key in both
// forms (decoded or as the encoded Kafka key); two pictures of one camera
// within one second have two.
func TestPictureIdentityFormIndependent(t *testing.T) {
	p := testPicture() // captured at 14:03:09.123456789
	keys := map[string]Form{}
	for _, f := range []Form{FormBinary, FormJSON} {
		enc, err := EncodePicture(p, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodePicture(enc.Value, enc.Headers, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Key() != string(enc.Key) {
			t.Errorf("%v: decoded Key() = %q, Kafka key %q", f, got.Key(), enc.Key)
		}
		keys[got.Key()] = f
		keys[string(enc.Key)] = f
	}
	if len(keys) != 1 {
		t.Errorf("one picture has %d keys across forms: %v, want 1", len(keys), keys)
	}
	const want = "C1-20160517T140309Z-8b7929cbb28e96ae"
	if p.Key() != want {
		t.Errorf("Key() = %q, want %q", p.Key(), want)
	}
	other := append([]byte(nil), testJPEG...)
	other[len(other)/2] ^= 1
	q := NewPicture("C1", "node1", testTime.Add(200*time.Millisecond), other)
	if q.Key() == p.Key() {
		t.Errorf("two pictures within one second share key %q", p.Key())
	}
}

// TestReadingIdentityFormIndependent: the same reading has one identity in
// both forms; readings of one node and source within one second with
// different values have different identities.
func TestReadingIdentityFormIndependent(t *testing.T) {
	r := testReading()
	ids := map[string]Form{}
	for _, f := range []Form{FormBinary, FormJSON} {
		enc, err := EncodeTemperature(r, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeTemperature(enc.Value, enc.Headers)
		if err != nil {
			t.Fatal(err)
		}
		ids[got.Identity()] = f
	}
	if len(ids) != 1 {
		t.Errorf("one reading has %d identities across forms: %v, want 1", len(ids), ids)
	}
	const want = "node1|2016-05-17T14:03:09Z|vcgencmd|48.3"
	if got := r.Identity(); got != want {
		t.Errorf("Identity() = %q, want %q", got, want)
	}
	s := r
	s.ReadAt = r.ReadAt.Add(300 * time.Millisecond)
	s.TemperatureCelsius = 48.4
	if s.Identity() == r.Identity() {
		t.Errorf("two readings within one second with values 48.3 and 48.4 share identity %q", r.Identity())
	}
	// "48.30" in a thesis JSON value is the same reading as 48.3.
	j, err := DecodeTemperature([]byte(`{"id":"node1","date":"20160517","time":"140309","value":"48.30","source":"vcgencmd"}`), nil)
	if err != nil || j.Identity() != want {
		t.Errorf("Identity of value 48.30 = %q, %v; want %q", j.Identity(), err, want)
	}
}
