package svc

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHostReady(t *testing.T) {
	tests := []struct {
		name string
		give func(h *Host) // after Registry("a") and Registry("b")
		want string        // "" ready
	}{
		{"no probe yet", func(*Host) {}, "a: not started; b: not started"},
		{"one added, one not", func(h *Host) {
			p := NewProbe(nil)
			ServeAdmin(h, "a", Common{}, h.Registry("a"), p, nil)
		}, "b: not started"},
		{"both added, one condition unmet", func(h *Host) {
			pa, pb := NewProbe(nil), NewProbe(nil)
			pb.Register("kafka")
			ServeAdmin(h, "a", Common{}, h.Registry("a"), pa, nil)
			ServeAdmin(h, "b", Common{}, h.Registry("b"), pb, nil)
		}, "b: kafka: not checked yet"},
		{"both ready", func(h *Host) {
			pa, pb := NewProbe(nil), NewProbe(nil)
			ServeAdmin(h, "a", Common{}, h.Registry("a"), pa, nil)
			ServeAdmin(h, "b", Common{}, h.Registry("b"), pb, nil)
		}, ""},
		{"one draining", func(h *Host) {
			pa, pb := NewProbe(nil), NewProbe(nil)
			ServeAdmin(h, "a", Common{}, h.Registry("a"), pa, nil)
			ServeAdmin(h, "b", Common{}, h.Registry("b"), pb, nil)
			pa.Drain()
		}, "a: shutting down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHost()
			h.Registry("a")
			h.Registry("b")
			tt.give(h)
			got := ""
			if err := h.Ready(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Ready() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestServeAdminHosted(t *testing.T) {
	h := NewHost()
	if _, err := ServeAdmin(h, "x", Common{}, prometheus.NewRegistry(), NewProbe(nil), nil); err == nil {
		t.Errorf("ServeAdmin for a service without a Registry = nil error, want one")
	}
	adm, err := ServeAdmin(h, "x", Common{}, h.Registry("x"), NewProbe(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.Run(t.Context()); err != nil {
		t.Errorf("hosted Run = %v, want nil at once", err)
	}
}

// Two services' same-named metrics stay apart by their service label;
// the host's own registry is exported as it is.
func TestHostGatherer(t *testing.T) {
	h := NewHost()
	own := prometheus.NewRegistry()
	NewMetricFactory(own).Gauge("own_gauge", "Own.").Set(1)
	for i, name := range []string{"cam", "temp"} {
		p := NewProbe(h.Registry(name))
		p.Register("kafka")
		if i == 1 {
			p.Set("kafka", nil)
		}
	}
	want := `
# HELP own_gauge Own.
# TYPE own_gauge gauge
own_gauge 1
# HELP sensornode_ready Readiness condition: 1 when met, 0 when not.
# TYPE sensornode_ready gauge
sensornode_ready{condition="kafka",service="cam"} 0
sensornode_ready{condition="kafka",service="temp"} 1
`
	if err := testutil.GatherAndCompare(h.Gatherer(own), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// A second gather labels afresh (the registries' metrics are new each time).
	if err := testutil.GatherAndCompare(h.Gatherer(own), strings.NewReader(want)); err != nil {
		t.Errorf("second gather: %v", err)
	}
}
