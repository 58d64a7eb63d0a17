// Package fleetview reads the fleet's master view from ZooKeeper: every
// master-watcher keeps an ephemeral znode <path>/<node> holding its View as
// JSON (master-watcher's zkview publishes them). master-watcher's status
// and its fleet metrics, and the viewer's pipeline page read them through
// this package.
package fleetview

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"time"

	"github.com/go-zookeeper/zk"
)

// DefaultPath is the parent znode of the views.
const DefaultPath = "/sensornode/masters"

// View is one node's choice, as stored in its znode.
type View struct {
	Node string `json:"node"`
	// Active is the URL of the active master, "" before the first choice.
	Active string `json:"active"`
	// Index is the active master's position in Masters, -1 before the
	// first choice.
	Index int `json:"index"`
	// Since is when Active was chosen.
	Since time.Time `json:"since"`
	// Ready: Active answered its latest probes.
	Ready bool `json:"ready"`
	// Masters is the node's configured list, in priority order.
	Masters []string `json:"masters"`
	// Version of the master-watcher that wrote the view.
	Version string `json:"version,omitempty"`
}

// InvalidView is a znode that could not be read as a View.
type InvalidView struct {
	Node string
	Err  error
}

// Group is a set of nodes that agree: same active master, same master list.
type Group struct {
	Active  string
	Masters []string
	Nodes   []string
}

// Summary is the fleet's agreement.
type Summary struct {
	Views   []View
	Groups  []Group // largest first
	Invalid []InvalidView
}

// Agree reports whether every view is valid and all of them have the same
// active master and the same master list. Different lists count as a
// disagreement: they diverge at the next failure even when they agree now.
func (s Summary) Agree() bool { return len(s.Groups) == 1 && len(s.Invalid) == 0 }

// Disagreeing counts the views outside the group of view v (all views when
// v is in none).
func (s Summary) Disagreeing(v View) int {
	n := 0
	for _, o := range s.Views {
		if !sameGroup(o, v) {
			n++
		}
	}
	return n + len(s.Invalid)
}

func sameGroup(a, b View) bool { return a.Active == b.Active && slices.Equal(a.Masters, b.Masters) }

// Summarize groups views by agreement.
func Summarize(views []View, invalid []InvalidView) Summary {
	s := Summary{Views: views, Invalid: invalid}
	for _, v := range views {
		i := slices.IndexFunc(s.Groups, func(g Group) bool { return sameGroup(View{Active: g.Active, Masters: g.Masters}, v) })
		if i < 0 {
			s.Groups = append(s.Groups, Group{Active: v.Active, Masters: v.Masters})
			i = len(s.Groups) - 1
		}
		s.Groups[i].Nodes = append(s.Groups[i].Nodes, v.Node)
	}
	sort.SliceStable(s.Groups, func(i, j int) bool {
		if len(s.Groups[i].Nodes) != len(s.Groups[j].Nodes) {
			return len(s.Groups[i].Nodes) > len(s.Groups[j].Nodes)
		}
		return s.Groups[i].Active < s.Groups[j].Active
	})
	return s
}

// ErrNoViews means the path holds no view at all.
var ErrNoViews = errors.New("no master-watcher has published a view")

// ReadViews reads every view under root, sorted by node. A node that
// vanishes while being read is skipped; one that does not parse is
// returned in invalid.
func ReadViews(conn *zk.Conn, root string) (views []View, invalid []InvalidView, err error) {
	children, _, err := conn.Children(root)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil, fmt.Errorf("%w under %s (the path does not exist)", ErrNoViews, root)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", root, err)
	}
	sort.Strings(children)
	for _, c := range children {
		b, _, err := conn.Get(path.Join(root, c))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path.Join(root, c), err)
		}
		var v View
		if err := json.Unmarshal(b, &v); err != nil {
			invalid = append(invalid, InvalidView{Node: c, Err: fmt.Errorf("not a view: %w", err)})
			continue
		}
		if v.Node != c {
			invalid = append(invalid, InvalidView{Node: c, Err: fmt.Errorf("view names node %q", v.Node)})
			continue
		}
		views = append(views, v)
	}
	return views, invalid, nil
}
