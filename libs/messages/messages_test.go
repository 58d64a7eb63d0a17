package messages

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var (
	testJPEG = mustRead("testdata/sample-320x188.jpg") // a real JPEG, fixed so goldens never depend on jpegsynth
	testTime = time.Date(2016, 5, 17, 14, 3, 9, 123456789, time.UTC)
)

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return b
}

func testPicture() Picture { return NewPicture("C1", "node1", testTime, testJPEG) }

func testReading() TemperatureReading {
	return TemperatureReading{NodeID: "node1", ReadAt: testTime, TemperatureCelsius: 48.3, Source: "vcgencmd"}
}

func TestPictureRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		form     Form
		opts     JSONOptions
		wantTime time.Time
		wantNode string
	}{
		{name: "binary keeps nanoseconds and node", form: FormBinary, wantTime: testTime, wantNode: "node1"},
		{name: "json url-safe truncates to seconds", form: FormJSON, wantTime: testTime.Truncate(time.Second)},
		{name: "json standard padded", form: FormJSON, opts: JSONOptions{Base64: base64.StdEncoding}, wantTime: testTime.Truncate(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPicture()
			enc, err := EncodePictureJSON(p, tt.form, tt.opts)
			if err != nil {
				t.Fatalf("EncodePicture() error = %v", err)
			}
			got, err := DecodePicture(enc.Value, enc.Headers, 0)
			if err != nil {
				t.Fatalf("DecodePicture() error = %v", err)
			}
			if !bytes.Equal(got.Data, p.Data) {
				t.Errorf("DecodePicture().Data differs from the encoded JPEG")
			}
			if got.SHA256 != p.SHA256 {
				t.Errorf("DecodePicture().SHA256 = %x, want %x", got.SHA256, p.SHA256)
			}
			if !got.CapturedAt.Equal(tt.wantTime) {
				t.Errorf("DecodePicture().CapturedAt = %v, want %v", got.CapturedAt, tt.wantTime)
			}
			if got.CameraID != "C1" || got.NodeID != tt.wantNode {
				t.Errorf("DecodePicture() camera, node = %q, %q; want C1, %q", got.CameraID, got.NodeID, tt.wantNode)
			}
			if string(enc.Key) != got.Key() {
				t.Errorf("record key %q != decoded picture's Key() %q", enc.Key, got.Key())
			}
			if k, f, err := KindOf(enc.Value, enc.Headers); err != nil || k != KindPicture || f != tt.form {
				t.Errorf("KindOf() = %v, %v, %v; want picture, %v, nil", k, f, err, tt.form)
			}
		})
	}
}

func TestTemperatureRoundTrip(t *testing.T) {
	for _, form := range []Form{FormBinary, FormJSON} {
		t.Run(form.String(), func(t *testing.T) {
			r := testReading()
			enc, err := EncodeTemperature(r, form)
			if err != nil {
				t.Fatalf("EncodeTemperature() error = %v", err)
			}
			got, err := DecodeTemperature(enc.Value, enc.Headers)
			if err != nil {
				t.Fatalf("DecodeTemperature() error = %v", err)
			}
			want := r
			if form == FormJSON {
				want.ReadAt = r.ReadAt.Truncate(time.Second)
			}
			if got != want {
				t.Errorf("DecodeTemperature() = %+v, want %+v", got, want)
			}
			if string(enc.Key) != "node1" {
				t.Errorf("key = %q, want node1", enc.Key)
			}
			if k, _, err := KindOf(enc.Value, enc.Headers); err != nil || k != KindTemperature {
				t.Errorf("KindOf() = %v, %v; want temperature", k, err)
			}
		})
	}
}

// The original Java producer wrote URL-safe base64 without padding; other
// writers use the standard alphabet, padding, and old ones wrapped lines.
func TestDecodeThesisJSONVariants(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(testJPEG)
	var wrapped strings.Builder
	for i := 0; i < len(std); i += 76 {
		wrapped.WriteString(std[i:min(i+76, len(std))])
		wrapped.WriteString("\r\n")
	}
	tests := []struct {
		name string
		give string
	}{
		{"url-safe raw", base64.RawURLEncoding.EncodeToString(testJPEG)},
		{"url-safe padded", base64.URLEncoding.EncodeToString(testJPEG)},
		{"standard padded", std},
		{"standard raw", base64.RawStdEncoding.EncodeToString(testJPEG)},
		{"mime wrapped", wrapped.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := json.Marshal(tt.give) // escapes \r\n as JSON escapes
			msg := `{ "id" : "C3", "date":"20160517", "time":"140309", "value":` + string(v) + ` }`
			got, err := DecodePicture([]byte(msg), nil, 0)
			if err != nil {
				t.Fatalf("DecodePicture(%s) error = %v", tt.name, err)
			}
			if !bytes.Equal(got.Data, testJPEG) {
				t.Errorf("DecodePicture(%s) data differs", tt.name)
			}
			if want := time.Date(2016, 5, 17, 14, 3, 9, 0, time.UTC); !got.CapturedAt.Equal(want) || got.CameraID != "C3" {
				t.Errorf("DecodePicture(%s) = %s at %v, want C3 at %v", tt.name, got.CameraID, got.CapturedAt, want)
			}
		})
	}
}

func TestDecodePictureErrors(t *testing.T) {
	p := testPicture()
	good, err := EncodePicture(p, FormBinary)
	if err != nil {
		t.Fatal(err)
	}
	withHeader := func(key, val string) []Header {
		hs := append([]Header(nil), good.Headers...)
		for i := range hs {
			if hs[i].Key == key {
				hs[i].Value = []byte(val)
			}
		}
		return hs
	}
	without := func(key string) []Header {
		var hs []Header
		for _, h := range good.Headers {
			if h.Key != key {
				hs = append(hs, h)
			}
		}
		return hs
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jsonPic := func(date, tm, value string) []byte {
		return []byte(`{"id":"C1","date":"` + date + `","time":"` + tm + `","value":"` + value + `"}`)
	}
	truncated := testJPEG[:len(testJPEG)/2]
	corrupted := append([]byte(nil), testJPEG...)
	corrupted[len(corrupted)/2] ^= 0xFF
	tests := []struct {
		name    string
		value   []byte
		headers []Header
		max     int
		want    error
	}{
		{"empty value no headers", nil, nil, 0, ErrEmpty},
		{"raw bytes without headers", testJPEG, nil, 0, ErrUnknownForm},
		{"binary empty value", nil, good.Headers, 0, ErrEmpty},
		{"binary not jpeg", []byte("hello, world"), good.Headers, 0, ErrNotJPEG},
		{"binary truncated", truncated, good.Headers, 0, ErrTruncatedJPEG},
		{"binary too large", testJPEG, good.Headers, 100, ErrTooLarge},
		{"binary corrupted", corrupted, good.Headers, 0, ErrChecksum},
		{"unknown schema", testJPEG, withHeader(HeaderSchema, "99"), 0, ErrUnknownSchema},
		{"temperature kind", testJPEG, withHeader(HeaderKind, "temperature"), 0, ErrWrongKind},
		{"bad time header", testJPEG, withHeader(HeaderTime, "yesterday"), 0, ErrBadTime},
		{"missing time header", testJPEG, without(HeaderTime), 0, ErrMissingField},
		{"missing checksum", testJPEG, without(HeaderSHA256), 0, ErrMissingField},
		{"bad checksum hex", testJPEG, withHeader(HeaderSHA256, strings.Repeat("zz", 32)), 0, ErrBadField},
		{"bad camera id", testJPEG, withHeader(HeaderCamera, "../etc"), 0, ErrBadID},
		{"json not object", []byte(`{"id":`), nil, 0, ErrBadJSON},
		{"json trailing garbage", append(jsonPic("20160517", "140309", b64(testJPEG)), 'x'), nil, 0, ErrBadJSON},
		{"json bad date", jsonPic("20161317", "140309", b64(testJPEG)), nil, 0, ErrBadTime},
		{"json short time", jsonPic("20160517", "1403", b64(testJPEG)), nil, 0, ErrBadTime},
		{"json bad base64", jsonPic("20160517", "140309", "!!!!"), nil, 0, ErrBadBase64},
		{"json empty value", jsonPic("20160517", "140309", ""), nil, 0, ErrEmpty},
		{"json not jpeg", jsonPic("20160517", "140309", b64([]byte("GIF89a........"))), nil, 0, ErrNotJPEG},
		{"json truncated jpeg", jsonPic("20160517", "140309", b64(truncated)), nil, 0, ErrTruncatedJPEG},
		{"json too large", jsonPic("20160517", "140309", b64(testJPEG)), nil, 1000, ErrTooLarge},
		{"json missing id", []byte(`{"date":"20160517","time":"140309","value":"` + b64(testJPEG) + `"}`), nil, 0, ErrMissingField},
		{"json missing value", []byte(`{"id":"C1","date":"20160517","time":"140309"}`), nil, 0, ErrMissingField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePicture(tt.value, tt.headers, tt.max)
			if !errors.Is(err, tt.want) {
				t.Errorf("DecodePicture() error = %v, want %v", err, tt.want)
			}
			if got, want := Reason(err), Reason(tt.want); got != want || got == "other" {
				t.Errorf("Reason(%v) = %q, want %q", err, got, want)
			}
		})
	}
}

func TestDecodeTemperatureErrors(t *testing.T) {
	good, _ := EncodeTemperature(testReading(), FormBinary)
	tests := []struct {
		name  string
		value string
		hdrs  []Header
		want  error
	}{
		{"binary not a number", "hot", good.Headers, ErrBadTemperature},
		{"binary NaN", "NaN", good.Headers, ErrBadTemperature},
		{"binary impossible", "900", good.Headers, ErrBadTemperature},
		{"binary below absolute plausibility", "-273.15", good.Headers, ErrBadTemperature},
		{"json bad value", `{"id":"node1","date":"20160517","time":"140309","value":"x"}`, nil, ErrBadTemperature},
		{"json missing id", `{"date":"20160517","time":"140309","value":"40"}`, nil, ErrMissingField},
		{"json bad time", `{"id":"node1","date":"20160517","time":"250000","value":"40"}`, nil, ErrBadTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeTemperature([]byte(tt.value), tt.hdrs); !errors.Is(err, tt.want) {
				t.Errorf("DecodeTemperature(%q) error = %v, want %v", tt.value, err, tt.want)
			}
		})
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	p := testPicture()
	p.Data = p.Data[:100]
	if _, err := EncodePicture(p, FormBinary); !errors.Is(err, ErrTruncatedJPEG) {
		t.Errorf("EncodePicture(truncated) error = %v, want %v", err, ErrTruncatedJPEG)
	}
	p = testPicture()
	p.SHA256[0] ^= 1
	if _, err := EncodePicture(p, FormBinary); !errors.Is(err, ErrChecksum) {
		t.Errorf("EncodePicture(bad sum) error = %v, want %v", err, ErrChecksum)
	}
	r := testReading()
	r.TemperatureCelsius = 200
	if _, err := EncodeTemperature(r, FormJSON); !errors.Is(err, ErrBadTemperature) {
		t.Errorf("EncodeTemperature(200°C) error = %v, want %v", err, ErrBadTemperature)
	}
	if _, err := EncodePicture(testPicture(), Form(9)); !errors.Is(err, ErrUnknownForm) {
		t.Errorf("EncodePicture(Form(9)) error = %v, want %v", err, ErrUnknownForm)
	}
}

func TestCheckJPEG(t *testing.T) {
	tests := []struct {
		name string
		give []byte
		want error
	}{
		{"real", testJPEG, nil},
		{"zero padded after EOI", append(append([]byte(nil), testJPEG...), 0, 0, 0), nil},
		{"empty", []byte{}, ErrEmpty},
		{"soi only", []byte{0xFF, 0xD8, 0xFF}, ErrNotJPEG},
		{"png", []byte("\x89PNG\r\n\x1a\n...."), ErrNotJPEG},
		{"no eoi", []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}, ErrTruncatedJPEG},
		{"minimal", []byte{0xFF, 0xD8, 0xFF, 0xD9}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckJPEG(tt.give, 0); !errors.Is(err, tt.want) {
				t.Errorf("CheckJPEG() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPictureKey(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	tests := []struct {
		camera string
		at     time.Time
		want   string
	}{
		{"C1", testTime, "C1-20160517T140309Z-2d711642b726b044"},
		{"cam-with-dash", testTime.Truncate(time.Second), "cam-with-dash-20160517T140309Z-2d711642b726b044"},
	}
	for _, tt := range tests {
		got := PictureKey(tt.camera, tt.at, sum)
		if got != tt.want {
			t.Errorf("PictureKey(%q, %v) = %q, want %q", tt.camera, tt.at, got, tt.want)
		}
		cam, at, err := ParsePictureKey(got)
		if err != nil || cam != tt.camera || !at.Equal(tt.at.Truncate(time.Second)) || IsLegacyPictureKey(got) {
			t.Errorf("ParsePictureKey(%q) = %q, %v, %v; want %q, %v", got, cam, at, err, tt.camera, tt.at)
		}
	}
	// Legacy keys (before issue 11) keep their milliseconds when parsed.
	legacy := LegacyPictureKey("C1", testTime, sum)
	if legacy != "C1-20160517T140309.123Z-2d711642b726b044" || !IsLegacyPictureKey(legacy) {
		t.Errorf("LegacyPictureKey = %q (legacy %v), want C1-20160517T140309.123Z-2d711642b726b044", legacy, IsLegacyPictureKey(legacy))
	}
	if cam, at, err := ParsePictureKey(legacy); err != nil || cam != "C1" || !at.Equal(testTime.Truncate(time.Millisecond)) {
		t.Errorf("ParsePictureKey(%q) = %q, %v, %v", legacy, cam, at, err)
	}
	for _, bad := range []string{"", "C1", "C1-2016-abc", "C1-notatime-2d711642b726b044", "C1-20160517T140309.123Z-2d71", "C1-20160517T140309.1Z-2d711642b726b044", "C1-20160517T140309.123456Z-2d711642b726b044"} {
		if _, _, err := ParsePictureKey(bad); err == nil {
			t.Errorf("ParsePictureKey(%q) error = nil, want error", bad)
		}
	}
	// Same camera, time and bytes give the same key; other bytes another.
	a, b := testPicture(), testPicture()
	if a.Key() != b.Key() {
		t.Errorf("keys of identical pictures differ: %q %q", a.Key(), b.Key())
	}
	other := append([]byte(nil), testJPEG...)
	other[len(other)/2] ^= 1
	c := NewPicture("C1", "node1", testTime, other)
	if a.Key() == c.Key() {
		t.Errorf("pictures with different bytes share key %q", a.Key())
	}
}

func TestTopics(t *testing.T) {
	if got := NodeTopics(5); strings.Join(got, ",") != "node1,node2,node3,node4,node5" {
		t.Errorf("NodeTopics(5) = %v", got)
	}
	for give, want := range map[string]bool{"node1": true, "node12": true, "node": false, "node1-dlq": false, "cameraData": false} {
		if got := IsNodeTopic(give); got != want {
			t.Errorf("IsNodeTopic(%q) = %v, want %v", give, got, want)
		}
	}
	for _, tt := range []struct {
		give   string
		want   int
		wantOK bool
	}{{"node3", 3, true}, {"rpi-12", 12, true}, {"node0", 0, true}, {"node", 0, false}, {"3a", 0, false}} {
		if got, ok := NodeNumber(tt.give); got != tt.want || ok != tt.wantOK {
			t.Errorf("NodeNumber(%q) = %d, %v, want %d, %v", tt.give, got, ok, tt.want, tt.wantOK)
		}
	}
	if got := DeadLetterTopic(TopicCamera); got != "cameraData-dlq" {
		t.Errorf("DeadLetterTopic(cameraData) = %q", got)
	}
	if f, err := ParseForm("json"); err != nil || f != FormJSON {
		t.Errorf("ParseForm(json) = %v, %v", f, err)
	}
	if _, err := ParseForm("JSON"); !errors.Is(err, ErrUnknownForm) {
		t.Errorf("ParseForm(JSON) error = %v, want %v", err, ErrUnknownForm)
	}
}

// golden files: every form this package writes, pinned byte for byte, and
// decoded back. Schema changes must keep old goldens decodable.
type goldenHeaders struct {
	Key     string            `json:"key"`
	Headers map[string]string `json:"headers"`
}

func TestGolden(t *testing.T) {
	pic := testPicture()
	tests := []struct {
		name string
		enc  func() (Encoded, error)
	}{
		{"picture-binary-v1", func() (Encoded, error) { return EncodePicture(pic, FormBinary) }},
		{"picture-json-thesis", func() (Encoded, error) { return EncodePicture(pic, FormJSON) }},
		{"picture-json-std", func() (Encoded, error) {
			return EncodePictureJSON(pic, FormJSON, JSONOptions{Base64: base64.StdEncoding})
		}},
		{"temperature-binary-v1", func() (Encoded, error) { return EncodeTemperature(testReading(), FormBinary) }},
		{"temperature-json", func() (Encoded, error) { return EncodeTemperature(testReading(), FormJSON) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := tt.enc()
			if err != nil {
				t.Fatal(err)
			}
			meta := goldenHeaders{Key: string(enc.Key), Headers: map[string]string{}}
			for _, h := range enc.Headers {
				meta.Headers[h.Key] = string(h.Value)
			}
			metaJSON, _ := json.MarshalIndent(meta, "", "  ")
			valuePath := filepath.Join("testdata", tt.name+".value")
			metaPath := filepath.Join("testdata", tt.name+".meta.json")
			if *update {
				if err := os.WriteFile(valuePath, enc.Value, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(metaPath, append(metaJSON, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantValue, err := os.ReadFile(valuePath)
			if err != nil {
				t.Fatal(err)
			}
			wantMeta, err := os.ReadFile(metaPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc.Value, wantValue) {
				t.Errorf("encoded value differs from %s (run go test -update after an intended change)", valuePath)
			}
			if got := string(append(metaJSON, '\n')); got != string(wantMeta) {
				t.Errorf("key/headers = %s, want %s", got, wantMeta)
			}
			// And the golden decodes.
			var gm goldenHeaders
			if err := json.Unmarshal(wantMeta, &gm); err != nil {
				t.Fatal(err)
			}
			var hs []Header
			for k, v := range gm.Headers {
				hs = append(hs, Header{k, []byte(v)})
			}
			kind, _, err := KindOf(wantValue, hs)
			if err != nil {
				t.Fatalf("KindOf(golden) error = %v", err)
			}
			switch kind {
			case KindPicture:
				p, err := DecodePicture(wantValue, hs, 0)
				if err != nil || !bytes.Equal(p.Data, testJPEG) || p.Key() != gm.Key {
					t.Errorf("DecodePicture(golden) = key %q, err %v; want key %q and the test JPEG", p.Key(), err, gm.Key)
				}
			case KindTemperature:
				r, err := DecodeTemperature(wantValue, hs)
				if err != nil || r.TemperatureCelsius != 48.3 || r.NodeID != "node1" {
					t.Errorf("DecodeTemperature(golden) = %+v, %v", r, err)
				}
			}
		})
	}
}

func TestReasonsClosed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if seen[r] {
			t.Errorf("Reasons() repeats %q", r)
		}
		seen[r] = true
	}
	if got := Reason(errors.New("x")); got != "other" {
		t.Errorf("Reason(foreign) = %q, want other", got)
	}
}
