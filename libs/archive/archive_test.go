package archive_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestLayout(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		give    string
		vars    archive.Vars
		want    string
		wantErr string
	}{
		{name: "default picture", give: "/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg",
			vars: archive.Vars{Camera: "C1", Key: "k", T: at}, want: "/sensornode/camera/C1/2026/01/02/030405-k.jpg"},
		{name: "node unknown", give: "/p/{node}/{key}", vars: archive.Vars{Key: "k"}, want: "/p/unknown/k"},
		{name: "relative", give: "p/{key}", wantErr: "not an absolute path"},
		{name: "dotdot", give: "/a/../{key}", wantErr: ".."},
		{name: "unknown placeholder", give: "/a/{month}/{key}", wantErr: "unknown placeholder {month}"},
		{name: "no key", give: "/a/{camera}", wantErr: "lacks {key}"},
		{name: "unclosed", give: "/a/{key", wantErr: "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := archive.ParseLayout(tt.give, []string{"key"}, nil)
			if !svctest.Succeeds(t, fmt.Sprintf("ParseLayout(%q)", tt.give), err, tt.wantErr) {
				return
			}
			if got := l.Render(tt.vars); got != tt.want {
				t.Errorf("render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadingFormatsRoundTrip(t *testing.T) {
	r := archive.Reading{Node: "node1", ReadAt: time.Date(2026, 5, 1, 1, 2, 3, 456789, time.UTC), Celsius: -3.25, Source: `a,"b"`,
		Topic: "temperatureData", Partition: 3, Offset: 99}
	for _, f := range archive.Formats {
		var b bytes.Buffer
		if f != archive.FormatAvro {
			archive.AppendReading(&b, f, r)
			archive.AppendReading(&b, f, r)
			if e, _ := archive.EncodeReadings([]archive.Reading{r, r}, f); !bytes.Equal(e, b.Bytes()) {
				t.Errorf("%s: EncodeReadings = %q, AppendReading twice %q", f, e, b.Bytes())
			}
		} else {
			e, err := archive.EncodeReadings([]archive.Reading{r, r}, f)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(e)
		}
		wantAt := r.ReadAt
		if f == archive.FormatAvro {
			wantAt = archive.AvroReadAt(r.ReadAt) // the schema keeps microseconds
		}
		got, err := archive.DecodeReadings(b.Bytes(), f)
		if err != nil || len(got) != 2 || !got[1].ReadAt.Equal(wantAt) || got[1].Node != r.Node || got[1].Celsius != r.Celsius ||
			got[1].Source != r.Source || got[1].Offset != 99 || got[1].Partition != 3 {
			t.Errorf("%s: DecodeReadings(AppendReading(r)) = %+v, %v; want r twice", f, got, err)
		}
	}
}

func TestLayoutRoot(t *testing.T) {
	tests := []struct{ give, want string }{
		{"/sensornode/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}", "/sensornode/temperature"},
		{"/t/temp-{node}/{yyyy}/{MM}/{dd}/{HH}", "/t"},
		{"/{node}/{yyyy}/{MM}/{dd}/{HH}", "/"},
	}
	for _, tt := range tests {
		l, err := archive.ParseLayout(tt.give, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Root(); got != tt.want {
			t.Errorf("ParseLayout(%q).Root() = %q, want %q", tt.give, got, tt.want)
		}
	}
}
