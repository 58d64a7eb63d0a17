package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/messages"
)

// Nodes lists the nodes that have readings, sorted.
func (s *Store) Nodes(ctx context.Context) ([]string, error) {
	return s.ids(s.temps, s.nodeIndex, "node")
}

// Readings lists a node's readings with from <= ReadAt < to, oldest first.
// Files that are not readings (foreign, corrupt) are skipped, counted and
// logged.
func (s *Store) Readings(ctx context.Context, node string, from, to time.Time) ([]Reading, error) {
	if err := messages.CheckID("node", node); err != nil {
		return nil, fmt.Errorf("node: %w", ErrNotFound)
	}
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, nil
	}
	v := archive.Vars{Node: node, T: from}
	var dir string
	var depth int
	var err error
	switch last := to.Add(-time.Nanosecond); {
	case from.Truncate(time.Hour).Equal(last.Truncate(time.Hour)):
		dir, depth, err = s.temps.DirOf(v, archive.Hour)
	case from.Truncate(24 * time.Hour).Equal(last.Truncate(24 * time.Hour)):
		dir, depth, err = s.temps.DirOf(v, archive.Day)
	default:
		depth = s.nodeIndex + 1
		dir, err = s.temps.Prefix(depth, v)
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", ErrNotFound)
	}
	var out []Reading
	err = s.temps.Walk(ctx, dir, depth, s.temps.Depth(), s.temps.FieldsOf(depth, v), from, to, s.listFor,
		func(dir string, f archive.Fields) error {
			entries, err := s.listFor(dir, f)
			if err != nil {
				return err
			}
			for _, e := range entries {
				format, ok := archive.FormatOf(e.Name())
				if e.IsDir() || !ok {
					continue
				}
				rs, err := s.readReadings(dir+"/"+e.Name(), format, e.Size())
				if err != nil {
					if errors.Is(err, errHDFS) {
						return err
					}
					s.m.skipped.WithLabelValues("readings").Inc()
					s.log.Warn("a file in a readings directory does not parse as readings; skipped", "path", dir+"/"+e.Name(), "err", err)
					continue
				}
				for _, r := range rs {
					if r.Node == node && !r.ReadAt.Before(from) && r.ReadAt.Before(to) {
						out = append(out, Reading{Node: r.Node, ReadAt: r.ReadAt.UTC(), Celsius: r.Celsius, Source: r.Source})
					}
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Reading) int { return a.ReadAt.Compare(b.ReadAt) })
	return out, nil
}

// errHDFS marks errors of HDFS itself (not of a file's content).
var errHDFS = errors.New("hdfs")

func (s *Store) readReadings(name, format string, size int64) ([]archive.Reading, error) {
	if size > maxReadingsFile {
		return nil, fmt.Errorf("%d bytes, limit %d", size, maxReadingsFile)
	}
	r, err := s.open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errHDFS, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxReadingsFile))
	if err != nil {
		s.m.hdfsErrors.WithLabelValues("read").Inc()
		return nil, fmt.Errorf("%w: read %s: %w", errHDFS, name, err)
	}
	return archive.DecodeReadings(data, format)
}
