package main

import (
	"slices"
	"strings"
	"testing"
)

func TestVariantSet(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    variant
		wantErr bool
	}{
		{name: "env", give: "old:A=1, B=2", want: variant{Name: "old", Env: []string{"A=1", "B=2"}}},
		{name: "empty env", give: "cur:", want: variant{Name: "cur"}},
		{name: "own binary", give: "new@/tmp/fwd:A=1", want: variant{Name: "new", Bin: "/tmp/fwd", Env: []string{"A=1"}}},
		{name: "no colon", give: "old", wantErr: true},
		{name: "not KEY=V", give: "old:A", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vs variants
			err := vs.Set(tt.give)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) error = %v, want error %v", tt.give, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := vs[0]; got.Name != tt.want.Name || got.Bin != tt.want.Bin || !slices.Equal(got.Env, tt.want.Env) {
				t.Errorf("Set(%q) = %+v, want %+v", tt.give, got, tt.want)
			}
		})
	}
}

// The summary's ratios are taken round by round to the base variant of the
// same size and backend.
func TestSummaryRatios(t *testing.T) {
	runs := []Run{
		{Round: 1, Backend: "franz", Variant: "old", Size: 10, PerSec: 100},
		{Round: 1, Backend: "franz", Variant: "new", Size: 10, PerSec: 50},
		{Round: 2, Backend: "franz", Variant: "old", Size: 10, PerSec: 400},
		{Round: 2, Backend: "franz", Variant: "new", Size: 10, PerSec: 600},
		{Round: 1, Backend: "confluent", Variant: "old", Size: 10, PerSec: 10},
		{Round: 1, Backend: "confluent", Variant: "new", Size: 10, PerSec: 30},
	}
	var b strings.Builder
	summary(&b, runs, "old")
	for _, want := range []string{
		"| 10 | franz | new | 2 | 325 (50, 600) | 1.00 (0.50, 1.50) |",
		"| 10 | confluent | new | 1 | 30 (30) | 3.00 (3.00) |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}
