package archive_test

import (
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
)

const (
	defaultPictures = "/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	defaultTemps    = "/sensornode/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}"
)

func mustLayout(t *testing.T, s string) archive.Layout {
	t.Helper()
	l, err := archive.ParseLayout(s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestDirOf(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 30, 45, 0, time.UTC)
	tests := []struct {
		name      string
		layout    string
		vars      archive.Vars
		res       archive.Resolution
		want      string
		wantDepth int
	}{
		{name: "picture day", layout: defaultPictures, vars: archive.Vars{Camera: "C1", T: at}, res: archive.Day,
			want: "/sensornode/camera/C1/2026/05/01", wantDepth: 6},
		{name: "picture hour is in the file name", layout: defaultPictures, vars: archive.Vars{Camera: "C1", T: at}, res: archive.Hour,
			want: "/sensornode/camera/C1/2026/05/01", wantDepth: 6},
		{name: "hour directories", layout: "/p/{camera}/{yyyy}{MM}{dd}/{HH}/{key}.jpg", vars: archive.Vars{Camera: "C1", T: at}, res: archive.Hour,
			want: "/p/C1/20260501/12", wantDepth: 4},
		{name: "flat", layout: "/lt/1/camera/{camera}/{key}.jpg", vars: archive.Vars{Camera: "C1", T: at}, res: archive.Hour,
			want: "/lt/1/camera/C1", wantDepth: 4},
		{name: "node not given stops", layout: "/p/{camera}/{node}/{yyyy}/{key}.jpg", vars: archive.Vars{Camera: "C1", T: at}, res: archive.Day,
			want: "/p/C1", wantDepth: 2},
		{name: "temperature hour", layout: defaultTemps, vars: archive.Vars{Node: "node1", T: at}, res: archive.Hour,
			want: "/sensornode/temperature/node1/2026/05/01/12", wantDepth: 7},
		{name: "temperature day", layout: defaultTemps, vars: archive.Vars{Node: "node1", T: at}, res: archive.Day,
			want: "/sensornode/temperature/node1/2026/05/01", wantDepth: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustLayout(t, tt.layout)
			got, depth, err := l.DirOf(tt.vars, tt.res)
			if err != nil || got != tt.want || depth != tt.wantDepth {
				t.Errorf("DirOf(%+v, %v) = %q, %d, %v; want %q, %d", tt.vars, tt.res, got, depth, err, tt.want, tt.wantDepth)
			}
			if p, err := l.Prefix(depth, tt.vars); err != nil || p != got {
				t.Errorf("Prefix(%d) = %q, %v; want %q", depth, p, err, got)
			}
			f := l.FieldsOf(depth, tt.vars)
			if !f.Agrees(tt.vars.T) {
				t.Errorf("FieldsOf(%d) = %v: disagrees with %v", depth, f, tt.vars.T)
			}
		})
	}
	if _, _, err := mustLayout(t, defaultPictures).DirOf(archive.Vars{Camera: "../x"}, archive.Day); err == nil {
		t.Error("DirOf(camera ../x) renders")
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name   string
		layout string
		comp   int
		give   string
		want   archive.Fields // nil: no match
	}{
		{name: "camera", layout: defaultPictures, comp: 2, give: "C-1.a", want: archive.Fields{"camera": "C-1.a"}},
		{name: "year", layout: defaultPictures, comp: 3, give: "2026", want: archive.Fields{"yyyy": "2026"}},
		{name: "year too short", layout: defaultPictures, comp: 3, give: "226"},
		{name: "month out of range", layout: defaultPictures, comp: 4, give: "13"},
		{name: "month sign", layout: defaultPictures, comp: 4, give: "+1"},
		{name: "literal", layout: defaultPictures, comp: 0, give: "sensornode", want: archive.Fields{}},
		{name: "literal differs", layout: defaultPictures, comp: 0, give: "other"},
		{name: "file", layout: defaultPictures, comp: 6, give: "123045-C1-20260501T123045Z-9f2c4e1a7b3d5e60.jpg",
			want: archive.Fields{"HH": "12", "mm": "30", "ss": "45", "key": "C1-20260501T123045Z-9f2c4e1a7b3d5e60"}},
		{name: "tmp file", layout: defaultPictures, comp: 6, give: "123045-C1-x.jpg.tmp"},
		{name: "bad id char", layout: defaultPictures, comp: 2, give: "a b"},
		{name: "prefixed camera", layout: "/p/cam-{camera}/{key}.jpg", comp: 1, give: "cam-C1", want: archive.Fields{"camera": "C1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := mustLayout(t, tt.layout).Match(tt.comp, tt.give)
			if ok != (tt.want != nil) || len(got) != len(tt.want) {
				t.Fatalf("Match(%d, %q) = %v, %t; want %v", tt.comp, tt.give, got, ok, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("Match(%d, %q)[%s] = %q, want %q", tt.comp, tt.give, k, got[k], v)
				}
			}
		})
	}
}

func TestSpan(t *testing.T) {
	tests := []struct {
		name     string
		give     archive.Fields
		from, to time.Time
		ok       bool
	}{
		{name: "none", give: archive.Fields{"camera": "C1"}},
		{name: "year", give: archive.Fields{"yyyy": "2026"}, ok: true,
			from: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "day", give: archive.Fields{"yyyy": "2026", "MM": "12", "dd": "31"}, ok: true,
			from: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), to: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "hour", give: archive.Fields{"yyyy": "2026", "MM": "05", "dd": "01", "HH": "12"}, ok: true,
			from: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), to: time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC)},
		{name: "gap stops", give: archive.Fields{"yyyy": "2026", "dd": "01"}, ok: true,
			from: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to, ok := tt.give.Span()
			if ok != tt.ok || !from.Equal(tt.from) || !to.Equal(tt.to) {
				t.Errorf("Span(%v) = %v, %v, %t; want %v, %v, %t", tt.give, from, to, ok, tt.from, tt.to, tt.ok)
			}
		})
	}
}

func TestPictureOf(t *testing.T) {
	key := "C1-20260501T123045Z-9f2c4e1a7b3d5e60"
	at := time.Date(2026, 5, 1, 12, 30, 45, 0, time.UTC)
	tests := []struct {
		name    string
		layout  string
		give    string
		wantErr bool
	}{
		{name: "default", layout: defaultPictures, give: "123045-" + key + ".jpg"},
		{name: "flat", layout: "/lt/{camera}/{key}.jpg", give: key + ".jpg"},
		{name: "camera in name", layout: "/p/{camera}/{camera}_{key}.jpg", give: "C1_" + key + ".jpg"},
		{name: "camera in name disagrees", layout: "/p/{camera}/{camera}_{key}.jpg", give: "C2_" + key + ".jpg", wantErr: true},
		{name: "time disagrees", layout: defaultPictures, give: "123046-" + key + ".jpg", wantErr: true},
		{name: "not a key", layout: defaultPictures, give: "123045-notakey.jpg", wantErr: true},
		{name: "foreign", layout: defaultPictures, give: "README", wantErr: true},
		{name: "no key in name", layout: "/p/{key}/x.jpg", give: "x.jpg", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, cam, taken, err := mustLayout(t, tt.layout).PictureOf(tt.give)
			if tt.wantErr {
				if err == nil {
					t.Errorf("PictureOf(%q) = %q, nil; want an error", tt.give, k)
				}
				return
			}
			if err != nil || k != key || cam != "C1" || !taken.Equal(at) {
				t.Errorf("PictureOf(%q) = %q, %q, %v, %v; want %q, C1, %v", tt.give, k, cam, taken, err, key, at)
			}
		})
	}
}

func TestDecodeReadingsRefusesCorrupt(t *testing.T) {
	tests := []struct {
		name, format, give string
	}{
		{name: "jsonl garbage", format: archive.FormatJSONL, give: "{\"node\":\"n\"}\nnot json\n"},
		{name: "csv columns", format: archive.FormatCSV, give: "n,2026-05-01T00:00:00Z,1\n"},
		{name: "csv time", format: archive.FormatCSV, give: "n,yesterday,1,s,t,0,1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := archive.DecodeReadings([]byte(tt.give), tt.format); err == nil {
				t.Errorf("DecodeReadings(%q) = %v, nil; want an error", tt.give, got)
			}
		})
	}
	if f, ok := archive.FormatOf("t+0+1+2.csv"); !ok || f != archive.FormatCSV {
		t.Errorf("FormatOf(.csv) = %q, %t", f, ok)
	}
	if f, ok := archive.FormatOf("t+0+1+2.avro"); !ok || f != archive.FormatAvro {
		t.Errorf("FormatOf(.avro) = %q, %t", f, ok)
	}
	if _, ok := archive.FormatOf("x.tmp"); ok {
		t.Error("FormatOf(x.tmp) is a format")
	}
	if got := archive.TempFileName("temperatureData", 2, 1180, 1342, archive.FormatJSONL); got != "temperatureData+2+1180+1342.jsonl" {
		t.Errorf("TempFileName = %q", got)
	}
}
