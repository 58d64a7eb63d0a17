// Package chaos is the Jepsen-style part of the whole-pipeline suite: a
// seeded nemesis plan (which fault, when, for how long), the fault timeline
// recorded while a run injects and heals the plan, a checker that holds what
// HDFS and the dead-letter topics contain against the ledger of everything
// the workload wrote, and the report (Markdown fault matrix, SVG timeline).
//
// The package is pure: it starts no process and talks to no broker. The
// driver that runs the services and injects the faults is the
// TestChaos* test of package e2e (build tag integration).
package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Fault is one kind of fault the nemesis can inject.
type Fault string

// The faults the driver implements.
const (
	// IngestSIGTERMHDFSDown stops the NameNode, lets ingest buffer, sends
	// cloud-ingest-hdfs SIGTERM while HDFS is down, then restarts both.
	IngestSIGTERMHDFSDown Fault = "ingest-sigterm-hdfs-down"
	// IngestSIGSTOP freezes a cloud-ingest-hdfs replica (SIGSTOP) for longer
	// than the group session timeout (a zombie), then SIGCONT.
	IngestSIGSTOP Fault = "ingest-sigstop"
	// ForwarderSIGKILL kills an edge-forwarder replica and starts it again.
	ForwarderSIGKILL Fault = "forwarder-sigkill"
	// LinkCut cuts the edge-to-cloud link (devstack's fault proxy in front
	// of the cloud broker) and restores it.
	LinkCut Fault = "link-cut"
	// Malformed writes malformed messages to an edge picture topic, the edge
	// temperature topic and both cloud topics; each must end in a
	// dead-letter topic with its reason.
	Malformed Fault = "malformed"
	// IngestSIGKILL kills a cloud-ingest-hdfs replica mid-write and starts it
	// again.
	IngestSIGKILL Fault = "ingest-sigkill"
	// EdgeBrokerSIGKILL kills one edge broker and starts it again.
	EdgeBrokerSIGKILL Fault = "edge-broker-sigkill"
	// EdgeBrokerSIGSTOP freezes one edge broker (SIGSTOP) for longer than
	// its ZooKeeper session and the groups' session timeout, then SIGCONT.
	EdgeBrokerSIGSTOP Fault = "edge-broker-sigstop"
	// EdgeBrokersAllDown kills every edge broker, holds about 30 s, and
	// starts them all again.
	EdgeBrokersAllDown Fault = "edge-brokers-all-down"
	// EdgeBrokersTwoOfFive kills two of five edge brokers (needs a stack
	// with 5 edge brokers, as make chaos brings up) and starts them again.
	EdgeBrokersTwoOfFive Fault = "edge-brokers-2of5"
	// ZooKeeperMinority kills one ZooKeeper server (the ensemble keeps its
	// quorum) and starts it again.
	ZooKeeperMinority Fault = "zk-minority"
	// ZooKeeperMajority kills a majority of the ZooKeeper servers (the
	// ensemble loses its quorum) and starts them again.
	ZooKeeperMajority Fault = "zk-majority"
	// NameNodeRestart kills the NameNode and starts it again.
	NameNodeRestart Fault = "namenode-restart"
	// DataNodeRestart kills the (only) DataNode, mid-write, and starts it
	// again.
	DataNodeRestart Fault = "datanode-restart"
	// ProducerSIGKILL kills a camera-producer and a temp-producer and starts them again.
	ProducerSIGKILL Fault = "producer-sigkill"
	// CloudTopicRecreate is an operator deleting and recreating a cloud
	// topic: the edge-to-cloud link is cut, the driver waits until ingest
	// committed everything in the cloud topics (what a careful operator
	// waits for: a deleted topic's unread records are gone by definition),
	// deletes one cloud topic, creates it again (offsets restart at 0, the
	// group's committed offsets are gone) and restores the link.
	CloudTopicRecreate Fault = "cloud-topic-recreate"
	// SpoolDiskFull fills the file system of one camera's spool directory
	// (a tmpfs the driver mounts; needs root) and frees it again: the
	// writer's pictures are cut short meanwhile, as motion's would be, and
	// must be quarantined; the camera-producer must not crash or lose
	// what it already had.
	SpoolDiskFull Fault = "spool-disk-full"
)

// Smoke is the mandatory set of the smoke run (issue 11): every smoke plan
// injects each of these at least once.
var Smoke = []Fault{IngestSIGTERMHDFSDown, IngestSIGSTOP, ForwarderSIGKILL, LinkCut, Malformed}

// All is every implemented fault.
var All = append(slices.Clone(Smoke), IngestSIGKILL, EdgeBrokerSIGKILL, EdgeBrokerSIGSTOP, EdgeBrokersAllDown,
	EdgeBrokersTwoOfFive, ZooKeeperMinority, ZooKeeperMajority, NameNodeRestart, DataNodeRestart, ProducerSIGKILL,
	CloudTopicRecreate, SpoolDiskFull)

// holds is the range of how long each fault is held before healing.
var holds = map[Fault][2]time.Duration{
	IngestSIGTERMHDFSDown: {8 * time.Second, 15 * time.Second},
	IngestSIGSTOP:         {10 * time.Second, 14 * time.Second}, // session timeout in the suite: 6 s
	ForwarderSIGKILL:      {0, 3 * time.Second},
	LinkCut:               {10 * time.Second, 30 * time.Second},
	Malformed:             {0, 0},
	IngestSIGKILL:         {0, 3 * time.Second},
	EdgeBrokerSIGKILL:     {2 * time.Second, 10 * time.Second},
	EdgeBrokerSIGSTOP:     {10 * time.Second, 25 * time.Second}, // broker ZooKeeper session in devstack: 6 s
	EdgeBrokersAllDown:    {30 * time.Second, 35 * time.Second},
	EdgeBrokersTwoOfFive:  {5 * time.Second, 20 * time.Second},
	ZooKeeperMinority:     {5 * time.Second, 20 * time.Second},
	ZooKeeperMajority:     {10 * time.Second, 30 * time.Second},
	NameNodeRestart:       {2 * time.Second, 10 * time.Second},
	DataNodeRestart:       {2 * time.Second, 10 * time.Second},
	ProducerSIGKILL:       {0, 3 * time.Second},
	CloudTopicRecreate:    {5 * time.Second, 15 * time.Second},
	SpoolDiskFull:         {10 * time.Second, 30 * time.Second},
}

// ParseFaults reads a comma-separated list of fault names; "" and "smoke"
// mean Smoke, "all" means All.
func ParseFaults(s string) ([]Fault, error) {
	switch strings.TrimSpace(s) {
	case "", "smoke":
		return slices.Clone(Smoke), nil
	case "all":
		return slices.Clone(All), nil
	}
	var out []Fault
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if _, ok := holds[Fault(f)]; !ok {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", f, joinFaults(All))
		}
		if !slices.Contains(out, Fault(f)) {
			out = append(out, Fault(f))
		}
	}
	return out, nil
}

func joinFaults(fs []Fault) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

// Step is one planned fault: injected At after the workload started, held
// for Hold, then healed; the next step starts at least Gap after healing.
type Step struct {
	Fault Fault
	At    time.Duration
	Hold  time.Duration
	// Target picks the replica or broker (the driver takes it modulo the
	// number it has).
	Target int
}

// Plan is the nemesis plan of one run.
type Plan struct {
	Seed  uint64
	Steps []Step
}

// Gap is the quiet time after each healed fault, so that its recovery can
// be seen before the next fault.
const Gap = 15 * time.Second

// NewPlan makes the plan for seed: every fault once in a seeded random
// order (the mandatory ones even if they overrun duration), then further
// rounds, each every fault once in a new order, while they fit into
// duration, so that in a long run every fault is injected about equally
// often. Holds are seeded too. The same seed, duration and faults give the
// same plan.
func NewPlan(seed uint64, duration time.Duration, faults []Fault) Plan {
	rng := rand.New(rand.NewPCG(seed, seed^0x5e5e_0de0))
	p := Plan{Seed: seed}
	at := 10 * time.Second // the workload warms up first
	add := func(f Fault) {
		h := holds[f]
		hold := h[0]
		if h[1] > h[0] {
			hold += time.Duration(rng.Int64N(int64(h[1] - h[0]))).Round(time.Second)
		}
		p.Steps = append(p.Steps, Step{Fault: f, At: at, Hold: hold, Target: rng.IntN(1 << 16)})
		at += hold + Gap
	}
	for round := 0; len(faults) > 0; round++ {
		order := slices.Clone(faults)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, f := range order {
			if round > 0 && at >= duration {
				return p
			}
			add(f)
		}
	}
	return p
}

// String is the plan, one step a line.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan seed=%d, %d steps:\n", p.Seed, len(p.Steps))
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "  %2d  t=%-6v %-26s hold %-5v target %d\n", i+1, s.At, s.Fault, s.Hold, s.Target)
	}
	return b.String()
}
