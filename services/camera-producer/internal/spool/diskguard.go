package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// GuardPolicy is what the disk guard does when the backlog exceeds its
// limits. It always raises sensornode_camera_disk_guard_tripped and logs.
type GuardPolicy string

// Disk guard policies.
const (
	// GuardWarn only alerts: nothing is deleted, the disk may fill.
	GuardWarn GuardPolicy = "warn"
	// GuardDropOldest deletes the oldest unsent pictures until the backlog
	// is under the limits again.
	GuardDropOldest GuardPolicy = "drop-oldest"
	// GuardDropNewest deletes newly arriving pictures while over the limits.
	GuardDropNewest GuardPolicy = "drop-newest"
)

// ParseGuardPolicy checks s.
func ParseGuardPolicy(s string) (GuardPolicy, error) {
	switch p := GuardPolicy(s); p {
	case GuardWarn, GuardDropOldest, GuardDropNewest:
		return p, nil
	}
	return "", fmt.Errorf("disk guard policy %q (want %s, %s or %s)", s, GuardWarn, GuardDropOldest, GuardDropNewest)
}

func (w *Watcher) updateBacklog() {
	w.m.BacklogFiles.Set(float64(w.files))
	w.m.BacklogBytes.Set(float64(w.bytes))
	over := w.over()
	if over != w.tripped {
		w.tripped = over
		if over {
			w.m.GuardTripped.Set(1)
			w.log.Warn("disk guard tripped: backlog over its limit", "files", w.files, "bytes", w.bytes,
				"max_files", w.cfg.MaxFiles, "max_bytes", w.cfg.MaxBytes, "policy", w.cfg.Guard)
		} else {
			w.m.GuardTripped.Set(0)
			w.log.Info("disk guard cleared", "files", w.files, "bytes", w.bytes)
		}
	}
}

func (w *Watcher) over() bool {
	return (w.cfg.MaxFiles > 0 && w.files > w.cfg.MaxFiles) || (w.cfg.MaxBytes > 0 && w.bytes > w.cfg.MaxBytes)
}

// guardNew applies the disk guard after a new file was tracked.
func (w *Watcher) guardNew(newest *entry) {
	if !w.over() {
		return
	}
	switch w.cfg.Guard {
	case GuardDropNewest:
		if _, ok := w.entries[newest.name]; ok && newest.st != stInflight {
			w.drop(newest)
		}
	case GuardDropOldest:
		for w.over() {
			var oldest *entry
			for _, e := range w.entries {
				if e.st == stInflight {
					continue
				}
				if oldest == nil || e.seq < oldest.seq {
					oldest = e
				}
			}
			if oldest == nil {
				return
			}
			w.drop(oldest)
		}
	}
}

func (w *Watcher) drop(e *entry) {
	path := filepath.Join(w.cfg.Dir, e.name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.m.Errors.WithLabelValues("delete").Inc()
		w.log.Error("disk guard cannot delete file", "file", e.name, "err", err)
		return
	}
	w.m.Dropped.WithLabelValues("disk-guard").Inc()
	w.log.Warn("disk guard deleted an unsent picture", "file", e.name, "bytes", e.size, "policy", w.cfg.Guard,
		"backlog_files", w.files, "backlog_bytes", w.bytes)
	w.remove(e)
}
