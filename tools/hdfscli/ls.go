package hdfscli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/svc"
)

// Ls is the hdfsls command: with -camera, one camera's pictures of an
// hour or a day from both picture stores, merged by key; else a recursive
// listing of HDFS paths (default /sensornode).
func Ls(ctx context.Context, args []string, stdout io.Writer) error {
	fs := NewFlags("hdfsls")
	stores := fs.AddStoreFlags()
	camera := fs.String("camera", "", "list this camera's pictures of -hour or -day from both picture stores (files and bundles), one line per key")
	hour := fs.String("hour", "", "with -camera: the hour, UTC, as 2006-01-02T15")
	day := fs.String("day", "", "with -camera: the day, UTC, as 2006-01-02")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var from, to time.Time
	var res archive.Resolution
	switch {
	case *camera == "" && (*hour != "" || *day != ""):
		return fmt.Errorf("%w: -hour and -day need -camera", svc.ErrUsage)
	case *camera == "":
	case fs.NArg() > 0:
		return fmt.Errorf("%w: -camera lists from the stores; it takes no paths (got %q)", svc.ErrUsage, fs.Args())
	case (*hour == "") == (*day == ""):
		return fmt.Errorf("%w: -camera needs one of -hour or -day", svc.ErrUsage)
	case *hour != "":
		t, err := time.Parse("2006-01-02T15", *hour)
		if err != nil {
			return fmt.Errorf("%w: -hour %q: want 2006-01-02T15 (UTC)", svc.ErrUsage, *hour)
		}
		from, to, res = t, t.Add(time.Hour), archive.Hour
	default:
		t, err := time.Parse(time.DateOnly, *day)
		if err != nil {
			return fmt.Errorf("%w: -day %q: want 2006-01-02 (UTC)", svc.ErrUsage, *day)
		}
		from, to, res = t, t.Add(24*time.Hour), archive.Day
	}
	c, err := fs.Connect()
	if err != nil {
		return err
	}
	defer c.Close()
	if *camera != "" {
		s, err := NewStores(bundlestore.HDFS(c), *stores)
		if err != nil {
			return fmt.Errorf("%w: %v", svc.ErrUsage, err)
		}
		ls, err := s.List(ctx, *camera, from, to, res)
		if err != nil {
			return err
		}
		WriteListing(stdout, ls)
		return nil
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"/sensornode"}
	}
	list := func(p string, fi os.FileInfo) {
		fmt.Fprintf(stdout, "%10d  %s  %s\n", fi.Size(), fi.ModTime().UTC().Format("2006-01-02 15:04:05.000"), p)
	}
	for _, p := range paths {
		fi, err := c.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			list(p, fi)
		case err == nil:
			err = Walk(c, p, list)
		}
		if os.IsNotExist(err) {
			return fmt.Errorf("%s: no such file or directory", p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteListing writes one line per picture: capture time, key, the stores
// holding it, then where: the file's path and size, the bundle's path and
// its block's byte range.
func WriteListing(w io.Writer, ls []Listed) {
	for _, l := range ls {
		fmt.Fprintf(w, "%s  %s  %-12s", l.Taken.UTC().Format(time.RFC3339), l.Key, l.Stores())
		if f := l.File; f != nil {
			fmt.Fprintf(w, "  %s (%d bytes)", f.Path, f.Size)
		}
		if b := l.Bundle; b != nil {
			fmt.Fprintf(w, "  %s [%d, +%d)", b.Bundle, b.Entry.Start, b.Entry.Length)
		}
		fmt.Fprintln(w)
	}
}
