// Package zkview publishes each node's choice of master to ZooKeeper and
// reads the fleet's choices back: every master-watcher keeps an ephemeral
// znode <path>/<node> holding its View as JSON, re-created when its session
// expires, so the fleet's views disappear with the watchers that wrote them.
package zkview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/sensornode/sensornode/services/master-watcher/internal/zkconn"
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

// PrintStatus writes a table of the views and the verdict.
func PrintStatus(w io.Writer, s Summary, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tACTIVE\tINDEX\tREADY\tSINCE\tMASTERS")
	for _, v := range s.Views {
		active, since := v.Active, "-"
		if active == "" {
			active = "(none yet)"
		}
		if !v.Since.IsZero() {
			since = fmt.Sprintf("%s (%s ago)", v.Since.UTC().Format(time.RFC3339), now.Sub(v.Since).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%t\t%s\t%s\n", v.Node, active, v.Index, v.Ready, since, strings.Join(v.Masters, ","))
	}
	for _, iv := range s.Invalid {
		fmt.Fprintf(tw, "%s\t(invalid: %v)\n", iv.Node, iv.Err)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notReady []string
	for _, v := range s.Views {
		if !v.Ready {
			notReady = append(notReady, v.Node)
		}
	}
	fmt.Fprintln(w)
	switch {
	case s.Agree():
		fmt.Fprintf(w, "fleet agrees: %d node(s) use %s\n", len(s.Views), orNone(s.Groups[0].Active))
	case len(s.Groups) <= 1:
		fmt.Fprintf(w, "fleet status unknown: %d invalid view(s)\n", len(s.Invalid))
	default:
		fmt.Fprintf(w, "fleet DISAGREES: %d groups\n", len(s.Groups))
		for _, g := range s.Groups {
			fmt.Fprintf(w, "  active %s, masters %s: %s\n", orNone(g.Active), strings.Join(g.Masters, ","), strings.Join(g.Nodes, ", "))
		}
	}
	if len(notReady) > 0 {
		fmt.Fprintf(w, "not ready (no live master): %s\n", strings.Join(notReady, ", "))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none yet)"
	}
	return s
}

// StatusError is the outcome of a status check that did not find a fleet
// in agreement. Its exit code is 1 when the fleet disagrees, 2 when the
// fleet's state could not be established.
type StatusError struct {
	Disagree bool
	Err      error
}

func (e *StatusError) Error() string {
	if e.Disagree {
		return "fleet disagrees on the active master"
	}
	return e.Err.Error()
}

func (e *StatusError) Unwrap() error { return e.Err }

// ExitCode is the status command's exit status for e.
func (e *StatusError) ExitCode() int {
	if e.Disagree {
		return 1
	}
	return 2
}

// Status connects to servers, reads every view under root, prints the
// table to w and returns nil when the fleet agrees, else a *StatusError.
func Status(ctx context.Context, servers []string, root string, w io.Writer, log *slog.Logger, now time.Time) (Summary, error) {
	conn, err := zkconn.Connect(ctx, servers, 10*time.Second, log)
	if err != nil {
		return Summary{}, &StatusError{Err: err}
	}
	defer conn.Close()
	views, invalid, err := ReadViews(conn, root)
	if err != nil {
		return Summary{}, &StatusError{Err: err}
	}
	s := Summarize(views, invalid)
	if err := PrintStatus(w, s, now); err != nil {
		return s, &StatusError{Err: err}
	}
	switch {
	case len(views) == 0 && len(invalid) == 0:
		return s, &StatusError{Err: fmt.Errorf("%w under %s", ErrNoViews, root)}
	case len(invalid) > 0:
		return s, &StatusError{Err: fmt.Errorf("%d invalid view(s) under %s", len(invalid), root)}
	case !s.Agree():
		return s, &StatusError{Disagree: true}
	}
	return s, nil
}
