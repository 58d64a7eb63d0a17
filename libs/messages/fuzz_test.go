package messages

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets: the decoders must never panic, and whatever they accept must
// be a valid message that re-encodes and decodes to the same content.

func seedGoldens(f *testing.F, prefix string) {
	matches, _ := filepath.Glob(filepath.Join("testdata", prefix+"*.value"))
	for _, vp := range matches {
		v, err := os.ReadFile(vp)
		if err != nil {
			f.Fatal(err)
		}
		mp := vp[:len(vp)-len(".value")] + ".meta.json"
		m, err := os.ReadFile(mp)
		if err != nil {
			f.Fatal(err)
		}
		var g goldenHeaders
		if err := json.Unmarshal(m, &g); err != nil {
			f.Fatal(err)
		}
		hs, _ := json.Marshal(g.Headers)
		f.Add(v, string(hs))
	}
}

func headersFrom(s string) []Header {
	var m map[string]string
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	var hs []Header
	for k, v := range m {
		hs = append(hs, Header{k, []byte(v)})
	}
	return hs
}

func FuzzDecodePicture(f *testing.F) {
	seedGoldens(f, "picture")
	f.Add([]byte(`{"id":"C1","date":"20160517","time":"140309","value":"_9j_2Q"}`), "")
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xD9}, `{"sn-schema":"1","sn-kind":"picture"}`)
	f.Fuzz(func(t *testing.T, value []byte, hdrs string) {
		hs := headersFrom(hdrs)
		p, err := DecodePicture(value, hs, 1<<20)
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("DecodePicture error %v wraps no sentinel", err)
			}
			return
		}
		if err := p.Validate(1 << 20); err != nil {
			t.Fatalf("decoded picture fails Validate: %v", err)
		}
		if !PathSafeID(p.CameraID) || p.NodeID != "" && !PathSafeID(p.NodeID) {
			t.Fatalf("decoded ids camera %q node %q are not path-safe", p.CameraID, p.NodeID)
		}
		for _, form := range []Form{FormBinary, FormJSON} {
			enc, err := EncodePicture(p, form)
			if err != nil {
				t.Fatalf("re-encode %v: %v", form, err)
			}
			q, err := DecodePicture(enc.Value, enc.Headers, 1<<20)
			if err != nil {
				t.Fatalf("decode of re-encoded %v: %v", form, err)
			}
			if !bytes.Equal(q.Data, p.Data) || q.CameraID != p.CameraID || q.SHA256 != p.SHA256 {
				t.Fatalf("%v round trip changed the picture", form)
			}
		}
	})
}

func FuzzDecodeTemperature(f *testing.F) {
	seedGoldens(f, "temperature")
	f.Add([]byte(`{"id":"node2","date":"20160517","time":"140309","value":" 48.3"}`), "")
	f.Add([]byte("-12.5e0"), `{"sn-schema":"1","sn-kind":"temperature","sn-node":"n","sn-time":"2016-05-17T14:03:09Z"}`)
	f.Fuzz(func(t *testing.T, value []byte, hdrs string) {
		r, err := DecodeTemperature(value, headersFrom(hdrs))
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("DecodeTemperature error %v wraps no sentinel", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded reading fails Validate: %v", err)
		}
		if !PathSafeID(r.NodeID) || r.Source != "" && !PathSafeID(r.Source) {
			t.Fatalf("decoded ids node %q source %q are not path-safe", r.NodeID, r.Source)
		}
		enc, err := EncodeTemperature(r, FormBinary)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q, err := DecodeTemperature(enc.Value, enc.Headers)
		if err != nil || q != r {
			t.Fatalf("round trip = %+v, %v; want %+v", q, err, r)
		}
	})
}
