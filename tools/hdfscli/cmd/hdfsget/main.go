// Command hdfsget copies files from HDFS to a local directory, like
// `hdfs dfs -get`; with -latest N it fetches the N newest pictures under the
// given directory instead of the named files.
//
//	go run ./tools/hdfscli/cmd/hdfsget [-namenode host:port] [-o dir] path ...
//	go run ./tools/hdfscli/cmd/hdfsget -latest 5 /sensornode/camera/C1
package main

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
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/hdfscli"
)

func main() { svc.Main("hdfsget", run, nil) }

func run(_ context.Context, args []string, stdout io.Writer) error {
	fs := hdfscli.NewFlags("hdfsget")
	outDir := fs.String("o", ".", "local directory to write into")
	latest := fs.Int("latest", 0, "fetch the N most recently written .jpg files under each path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: name at least one HDFS path", svc.ErrUsage)
	}
	c, err := fs.Connect()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	var files []string
	for _, p := range fs.Args() {
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
	err := hdfscli.Walk(c, dir, func(p string, fi os.FileInfo) {
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
