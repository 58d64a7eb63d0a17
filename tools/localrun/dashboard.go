// Package localrun is `make run`: the whole sensornode pipeline on one machine
// (devstack, five simulated nodes, edge-forwarder, cloud-ingest-hdfs, the
// web viewer) with a live dashboard, and `make run-smoke`, the same for a
// while with a check that pictures from every camera and the readings
// arrived in HDFS and that the viewer is ready.
package localrun

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// NodeStatus is one simulated node on the dashboard.
type NodeStatus struct {
	Node          string
	Camera        string
	PicturesSent  float64 // acknowledged by the edge cluster
	Backlog       float64 // pictures waiting in the spool directory
	Quarantined   float64
	ReadingsSent  float64
	LastCelsius   float64 // NaN: none yet
	LatestPicture string  // HDFS path of the camera's newest stored picture
	LatestAt      time.Time
	Up            bool // both producers answer /metrics
}

// Snapshot is everything the dashboard shows.
type Snapshot struct {
	At                time.Time
	Started           time.Time
	Nodes             []NodeStatus
	ForwardedPictures float64
	ForwardedReadings float64
	ForwardErrors     float64
	ForwarderLag      float64
	ForwarderUp       bool
	StoredPictures    float64
	StoredReadings    float64
	DuplicatePictures float64
	DeadLettered      float64
	IngestLag         float64
	PendingReadings   float64
	IngestUp          bool
	// The web viewer: its pages, its user and, on a terminal, this run's
	// password ("" hides it).
	ViewerURL         string
	ViewerUser        string
	ViewerPassword    string
	ViewerUp          bool
	Memory            string // RSS per service
	Problems          []string
	LogDir, HDFSRoot  string
	Devstack          string
	StopHint          string
	RefreshEvery      time.Duration
	ClearScreenPrefix string
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f", v)
}

func up(ok bool) string {
	if ok {
		return "up"
	}
	return "DOWN"
}

// Render writes the dashboard.
func Render(w io.Writer, s Snapshot) error {
	var b strings.Builder
	b.WriteString(s.ClearScreenPrefix)
	fmt.Fprintf(&b, "sensornode — %s, running %s (refresh every %s)\n", s.At.Format("15:04:05"),
		s.At.Sub(s.Started).Round(time.Second), s.RefreshEvery)
	fmt.Fprintf(&b, "devstack %s | logs %s | HDFS %s\n\n", s.Devstack, s.LogDir, s.HDFSRoot)
	fmt.Fprintf(&b, "%-6s %-4s %6s %8s %6s %9s %8s  %s\n", "node", "cam", "sent", "backlog", "junk", "readings", "°C", "latest picture in HDFS")
	sent, readings := math.NaN(), math.NaN()
	add := func(total *float64, v float64) {
		if math.IsNaN(v) {
			return
		}
		if math.IsNaN(*total) {
			*total = 0
		}
		*total += v
	}
	for _, n := range s.Nodes {
		temp := "—"
		if !math.IsNaN(n.LastCelsius) {
			temp = fmt.Sprintf("%.1f", n.LastCelsius)
		}
		latest := n.LatestPicture
		if latest == "" {
			latest = "(none yet)"
		} else if !n.LatestAt.IsZero() {
			latest += fmt.Sprintf(" (%s ago)", s.At.Sub(n.LatestAt).Round(time.Second))
		}
		status := ""
		if !n.Up {
			status = " DOWN"
		}
		fmt.Fprintf(&b, "%-6s %-4s %6s %8s %6s %9s %8s  %s%s\n", n.Node, n.Camera, num(n.PicturesSent), num(n.Backlog),
			num(n.Quarantined), num(n.ReadingsSent), temp, latest, status)
		add(&sent, n.PicturesSent)
		add(&readings, n.ReadingsSent)
	}
	fmt.Fprintf(&b, "\n%-22s %10s %10s %10s\n", "", "pictures", "readings", "lag")
	fmt.Fprintf(&b, "%-22s %10s %10s %10s\n", "produced (edge acks)", num(sent), num(readings), "")
	fmt.Fprintf(&b, "%-22s %10s %10s %10s  %s\n", "forwarded (cloud acks)", num(s.ForwardedPictures), num(s.ForwardedReadings), num(s.ForwarderLag),
		"edge-forwarder "+up(s.ForwarderUp))
	fmt.Fprintf(&b, "%-22s %10s %10s %10s  %s\n", "stored in HDFS", num(s.StoredPictures), num(s.StoredReadings), num(s.IngestLag),
		"cloud-ingest-hdfs "+up(s.IngestUp))
	if s.ViewerURL != "" {
		login := "user " + s.ViewerUser
		if s.ViewerPassword != "" {
			login += ", password " + s.ViewerPassword
		}
		fmt.Fprintf(&b, "\nviewer %s  (%s)  %s\n", s.ViewerURL, login, up(s.ViewerUp))
	}
	fmt.Fprintf(&b, "\nsince start: %s duplicate pictures skipped, %s dead-lettered, %s forward errors; %s readings buffered for the next file\n",
		num(s.DuplicatePictures), num(s.DeadLettered), num(s.ForwardErrors), num(s.PendingReadings))
	if s.Memory != "" {
		fmt.Fprintf(&b, "memory (RSS, largest instance): %s\n", s.Memory)
	}
	for _, p := range s.Problems {
		fmt.Fprintf(&b, "! %s\n", p)
	}
	if s.StopHint != "" {
		fmt.Fprintf(&b, "\n%s\n", s.StopHint)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
