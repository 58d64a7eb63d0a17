package hdfscli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/svc"
)

// Get is the hdfsget command: it copies HDFS files (absolute paths) or
// pictures (by key, from either picture store) into a local directory;
// with -latest N the N newest pictures under each path; with -bundle every
// picture of a bundle, checked against its SHA-256.
func Get(ctx context.Context, args []string, stdout io.Writer) error {
	fs := NewFlags("hdfsget")
	stores := fs.AddStoreFlags()
	outDir := fs.String("o", ".", "local directory to write into")
	latest := fs.Int("latest", 0, "fetch the N most recently written .jpg files under each path")
	bundlePath := fs.String("bundle", "", "export every picture of this committed bundle (.avro) as <key>.jpg, each checked against the SHA-256 in its record")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *bundlePath != "" && (fs.NArg() > 0 || *latest > 0):
		return fmt.Errorf("%w: -bundle exports one bundle; it takes no other paths, keys or -latest", svc.ErrUsage)
	case *bundlePath == "" && fs.NArg() == 0:
		return fmt.Errorf("%w: name at least one HDFS path or picture key, or -bundle", svc.ErrUsage)
	}
	var paths, keys []string
	for _, a := range fs.Args() {
		switch _, _, err := messages.ParsePictureKey(a); {
		case strings.HasPrefix(a, "/"):
			paths = append(paths, a)
		case *latest > 0:
			return fmt.Errorf("%w: -latest takes HDFS directories, not %q", svc.ErrUsage, a)
		case err == nil:
			keys = append(keys, a)
		default:
			return fmt.Errorf("%w: %q is neither an absolute HDFS path nor a picture key (%v)", svc.ErrUsage, a, err)
		}
	}
	c, err := fs.Connect()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	var s *Stores
	if *bundlePath != "" || len(keys) > 0 {
		if s, err = NewStores(bundlestore.HDFS(c), *stores); err != nil {
			return fmt.Errorf("%w: %v", svc.ErrUsage, err)
		}
	}
	if *bundlePath != "" {
		n, err := s.Export(*bundlePath, *outDir, func(e Exported) {
			fmt.Fprintf(stdout, "%s -> %s (%d bytes, SHA-256 checked)\n", e.Key, e.File, e.Size)
		})
		if err != nil {
			return fmt.Errorf("export %s (%d pictures written): %w", *bundlePath, n, err)
		}
		fmt.Fprintf(stdout, "%d pictures of %s in %s\n", n, *bundlePath, *outDir)
		return nil
	}
	for _, key := range keys {
		b, l, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		dst := filepath.Join(*outDir, key+".jpg")
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		from := l.Stores()
		if l.File != nil {
			from = l.File.Path
		} else if l.Bundle != nil {
			from = fmt.Sprintf("%s [%d, +%d)", l.Bundle.Bundle, l.Bundle.Entry.Start, l.Bundle.Entry.Length)
		}
		fmt.Fprintf(stdout, "%s -> %s (%d bytes, from %s)\n", key, dst, len(b), from)
	}
	var files []string
	for _, p := range paths {
		if *latest > 0 {
			newest, err := newestPictures(c, p, *latest)
			if err != nil {
				return err
			}
			files = append(files, newest...)
			continue
		}
		files = append(files, p)
	}
	for _, f := range files {
		b, err := c.ReadFile(f)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		dst := filepath.Join(*outDir, path.Base(f))
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s -> %s (%d bytes)\n", f, dst, len(b))
	}
	return nil
}

// newestPictures walks dir and returns the n .jpg files with the latest
// modification times.
func newestPictures(c *hdfs.Client, dir string, n int) ([]string, error) {
	type file struct {
		path string
		fi   os.FileInfo
	}
	var all []file
	err := Walk(c, dir, func(p string, fi os.FileInfo) {
		if strings.HasSuffix(fi.Name(), ".jpg") {
			all = append(all, file{p, fi})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].fi.ModTime().After(all[j].fi.ModTime()) })
	var out []string
	for i := 0; i < n && i < len(all); i++ {
		out = append(out, all[i].path)
	}
	return out, nil
}
