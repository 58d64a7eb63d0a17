package namenode

import (
	"context"
	"math"
	"net/http"
	"testing"

	"github.com/sensornode/sensornode/libs/hdfsjmx/hdfsjmxtest"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestPerPicture(t *testing.T) {
	tests := []struct {
		name          string
		before, after Objects
		pictures      int
		want          float64
	}{
		{"files store: a file and a block per picture", Objects{10, 4}, Objects{110, 104}, 100, 2},
		{"bundles: a bundle, its index, their blocks, the schema, dirs", Objects{10, 4}, Objects{18, 8}, 1000, 0.012},
		{"nothing added", Objects{10, 4}, Objects{10, 4}, 5, 0},
		{"objects removed meanwhile", Objects{10, 4}, Objects{8, 4}, 2, -1},
		{"no pictures", Objects{10, 4}, Objects{12, 6}, 0, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PerPicture(tt.before, tt.after, tt.pictures)
			same := math.Abs(got-tt.want) < 1e-9 || math.IsNaN(got) && math.IsNaN(tt.want)
			if !same {
				t.Errorf("PerPicture(%v, %v, %d) = %v, want %v", tt.before, tt.after, tt.pictures, got, tt.want)
			}
		})
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		bean    string
		want    Objects
		wantErr string
	}{
		{"counts", `{"name":"Hadoop:service=NameNode,name=FSNamesystem","FilesTotal":42,"BlocksTotal":17,"CapacityTotal":1}`, Objects{42, 17}, ""},
		{"bean without blocks", `{"FilesTotal":3}`, Objects{}, "no FilesTotal and BlocksTotal"},
		{"not a bean", `[]`, Objects{}, "namenode jmx " + Query},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := hdfsjmxtest.Serve(t, func(q string) (int, string) {
				if q != Query {
					return http.StatusNotFound, ""
				}
				return http.StatusOK, `{"beans":[` + tt.bean + `]}`
			})
			got, err := Read(context.Background(), http.DefaultClient, addr)
			if svctest.Succeeds(t, "Read()", err, tt.wantErr) && got != tt.want {
				t.Errorf("Read() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBlocks(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name              string
		size, block, want int64
	}{
		{"empty file", 0, 128 * mib, 0},
		{"picture", 80_000, 128 * mib, 1},
		{"exactly a block", 128 * mib, 128 * mib, 1},
		{"bundle one picture past the roll size", 128*mib + 80_000, 128 * mib, 2},
		{"unknown block size", 10, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Blocks(tt.size, tt.block); got != tt.want {
				t.Errorf("Blocks(%d, %d) = %d, want %d", tt.size, tt.block, got, tt.want)
			}
		})
	}
}
