package svc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// HostLabel is the label a Host adds to every metric of the services it
// runs: their own metrics keep their names (sensornode_ready of two
// services would otherwise collide) and gain service="<name>".
const HostLabel = "service"

// Host runs several services' Run functions in one process with one admin
// server (services/node-agent). Each service gets its own registry from
// Registry (exported by the host's /metrics with service="<name>") and,
// through ServeAdmin, adds its readiness probe to the host's /readyz
// instead of serving an admin server of its own.
type Host struct {
	mu     sync.Mutex
	names  []string // in Registry order
	regs   map[string]*prometheus.Registry
	probes map[string]*Probe
}

// NewHost returns a host with no service yet.
func NewHost() *Host {
	return &Host{regs: map[string]*prometheus.Registry{}, probes: map[string]*Probe{}}
}

// Registry returns service's registry (created on first use, without the
// Go, process and build-info collectors: the host's own registry has them
// once). From now on the host is not ready until service's Run has added
// its probe (ServeAdmin) and that probe is ready.
func (h *Host) Registry(service string) *prometheus.Registry {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.regs[service]; ok {
		return r
	}
	r := prometheus.NewRegistry()
	h.regs[service] = r
	h.names = append(h.names, service)
	return r
}

// errNotStarted is a hosted service's readiness before its Run added its
// probe.
var errNotStarted = errors.New("not started")

// Ready returns nil when every service's probe is ready, else an error
// naming each service and condition that is not.
func (h *Host) Ready() error {
	h.mu.Lock()
	names := slices.Clone(h.names)
	probes := make([]*Probe, len(names))
	for i, n := range names {
		probes[i] = h.probes[n]
	}
	h.mu.Unlock()
	var bad []string
	for i, n := range names {
		err := errNotStarted
		if probes[i] != nil {
			err = probes[i].Ready()
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", n, err))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Gatherer is what the host's /metrics serves: own (its registry from
// NewRegistry, with the Go, process and build-info collectors and the
// memory limit) and every service's registry with service="<name>".
func (h *Host) Gatherer(own prometheus.Gatherer) prometheus.Gatherer {
	h.mu.Lock()
	defer h.mu.Unlock()
	gs := prometheus.Gatherers{own}
	for _, n := range h.names {
		gs = append(gs, labelled{g: h.regs[n], value: n})
	}
	return gs
}

// NewAdmin is the host's admin server: /metrics from Gatherer(reg) (reg
// also counts the handler's own errors), /readyz from Ready.
func (h *Host) NewAdmin(c Common, reg *prometheus.Registry, log *slog.Logger) (*Admin, error) {
	return newAdmin(c, h.Gatherer(reg), reg, h, log)
}

// AdminServer is the admin server a service's Run runs beside its work.
type AdminServer interface {
	Addr() string
	Run(ctx context.Context) error
}

// ServeAdmin is the admin server of a service's Run: its own (NewAdmin)
// when host is nil, else none: probe is added to host under service's
// name (its registry should be host.Registry(service)) and the returned
// server's Run returns at once.
func ServeAdmin(host *Host, service string, c Common, reg *prometheus.Registry, probe *Probe, log *slog.Logger) (AdminServer, error) {
	if host == nil {
		return NewAdmin(c, reg, probe, log)
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	if _, ok := host.regs[service]; !ok {
		return nil, fmt.Errorf("host runs no service %q (Registry first)", service)
	}
	host.probes[service] = probe
	return hosted{}, nil
}

// hosted stands for a service's admin server when its host serves one.
type hosted struct{}

func (hosted) Addr() string              { return "(host)" }
func (hosted) Run(context.Context) error { return nil }

// labelled adds the label HostLabel=value to every metric of g.
type labelled struct {
	g     prometheus.Gatherer
	value string
}

func (l labelled) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := l.g.Gather()
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			name, value := HostLabel, l.value
			m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: &value})
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
	}
	return mfs, err
}
