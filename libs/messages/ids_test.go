package messages

import (
	"errors"
	"strings"
	"testing"
)

// unsafeIDs are ids that must never reach an HDFS path, a file name or a
// Kafka key: traversal, separators, control bytes, encoded separators,
// non-ASCII and over-long ids.
var unsafeIDs = []struct {
	name string
	give string
}{
	{"dot dot slash", "../etc"},
	{"dot dot", ".."},
	{"dot", "."},
	{"leading dot", ".hidden"},
	{"slash", "a/b"},
	{"leading slash", "/abs"},
	{"backslash", `a\b`},
	{"nul", "a\x00b"},
	{"newline", "a\nb"},
	{"space", "a b"},
	{"percent-encoded slash", "a%2Fb"},
	{"percent-encoded dot dot", "%2e%2e"},
	{"unicode", "nöde"},
	{"unicode slash lookalike", "a\u2215b"},
	{"braces", "{key}"},
	{"pipe", "a|b"},
	{"too long", strings.Repeat("a", MaxIDLen+1)},
}

func TestDecodeRejectsUnsafeIDs(t *testing.T) {
	pic, err := EncodePicture(testPicture(), FormBinary)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := EncodeTemperature(testReading(), FormBinary)
	if err != nil {
		t.Fatal(err)
	}
	set := func(hs []Header, key, val string) []Header {
		out := append([]Header(nil), hs...)
		for i := range out {
			if out[i].Key == key {
				out[i].Value = []byte(val)
			}
		}
		return out
	}
	jsonQ := func(s string) string {
		var b strings.Builder
		b.WriteString(`"`)
		for _, r := range s {
			if r < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte("0123456789abcdef"[r>>4])
				b.WriteByte("0123456789abcdef"[r&15])
				continue
			}
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteString(`"`)
		return b.String()
	}
	decoders := []struct {
		name   string
		decode func(id string) error
	}{
		{"binary picture camera", func(id string) error {
			_, err := DecodePicture(pic.Value, set(pic.Headers, HeaderCamera, id), 0)
			return err
		}},
		{"binary picture node", func(id string) error {
			_, err := DecodePicture(pic.Value, set(pic.Headers, HeaderNode, id), 0)
			return err
		}},
		{"json picture id", func(id string) error {
			_, err := DecodePicture([]byte(`{"id":`+jsonQ(id)+`,"date":"20160517","time":"140309","value":"_9j_2Q"}`), nil, 0)
			return err
		}},
		{"binary reading node", func(id string) error {
			_, err := DecodeTemperature(rd.Value, set(rd.Headers, HeaderNode, id))
			return err
		}},
		{"binary reading source", func(id string) error {
			_, err := DecodeTemperature(rd.Value, set(rd.Headers, HeaderSource, id))
			return err
		}},
		{"json reading node", func(id string) error {
			_, err := DecodeTemperature([]byte(`{"id":`+jsonQ(id)+`,"date":"20160517","time":"140309","value":"48.3"}`), nil)
			return err
		}},
		{"json reading source", func(id string) error {
			_, err := DecodeTemperature([]byte(`{"id":"node1","date":"20160517","time":"140309","value":"48.3","source":`+jsonQ(id)+`}`), nil)
			return err
		}},
	}
	for _, d := range decoders {
		for _, tt := range unsafeIDs {
			t.Run(d.name+"/"+tt.name, func(t *testing.T) {
				err := d.decode(tt.give)
				var fe *FieldError
				if !errors.Is(err, ErrBadID) || !errors.As(err, &fe) || Reason(err) != "bad-id" {
					t.Errorf("decode with id %q: error = %v, want a *FieldError wrapping ErrBadID (reason bad-id)", tt.give, err)
				}
			})
		}
	}
	// An empty camera or reading node is missing, not merely bad.
	if _, err := DecodePicture(pic.Value, set(pic.Headers, HeaderCamera, ""), 0); !errors.Is(err, ErrMissingField) {
		t.Errorf("DecodePicture(empty camera) error = %v, want ErrMissingField", err)
	}
	if _, err := DecodeTemperature(rd.Value, set(rd.Headers, HeaderNode, "")); !errors.Is(err, ErrMissingField) {
		t.Errorf("DecodeTemperature(empty node) error = %v, want ErrMissingField", err)
	}
}

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"C1", "node-1", "a_b.c", strings.Repeat("z", MaxIDLen)} {
		if err := CheckID("id", ok); err != nil {
			t.Errorf("CheckID(%q) = %v, want nil", ok, err)
		}
		if !PathSafeID(ok) {
			t.Errorf("PathSafeID(%q) = false, want true", ok)
		}
	}
	for _, tt := range unsafeIDs {
		if err := CheckID("id", tt.give); !errors.Is(err, ErrBadID) {
			t.Errorf("CheckID(%q) = %v, want ErrBadID", tt.give, err)
		}
		if PathSafeID(tt.give) {
			t.Errorf("PathSafeID(%q) = true, want false", tt.give)
		}
	}
}
