// Package zkview publishes each node's choice of master to ZooKeeper and
// reads the fleet's choices back (through libs/fleetview): every
// master-watcher keeps an ephemeral znode <path>/<node> holding its View as
// JSON, re-created when its session expires, so the fleet's views disappear
// with the watchers that wrote them.
package zkview

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sensornode/sensornode/libs/fleetview"
	"github.com/sensornode/sensornode/libs/zkconn"
)

// PrintStatus writes a table of the views and the verdict.
func PrintStatus(w io.Writer, s fleetview.Summary, now time.Time) error {
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
func Status(ctx context.Context, servers []string, root string, w io.Writer, log *slog.Logger, now time.Time) (fleetview.Summary, error) {
	conn, err := zkconn.Connect(ctx, servers, 10*time.Second, log)
	if err != nil {
		return fleetview.Summary{}, &StatusError{Err: err}
	}
	defer conn.Close()
	views, invalid, err := fleetview.ReadViews(conn, root)
	if err != nil {
		return fleetview.Summary{}, &StatusError{Err: err}
	}
	s := fleetview.Summarize(views, invalid)
	if err := PrintStatus(w, s, now); err != nil {
		return s, &StatusError{Err: err}
	}
	switch {
	case len(views) == 0 && len(invalid) == 0:
		return s, &StatusError{Err: fmt.Errorf("%w under %s", fleetview.ErrNoViews, root)}
	case len(invalid) > 0:
		return s, &StatusError{Err: fmt.Errorf("%d invalid view(s) under %s", len(invalid), root)}
	case !s.Agree():
		return s, &StatusError{Disagree: true}
	}
	return s, nil
}
