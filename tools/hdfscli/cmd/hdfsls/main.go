// Command hdfsls lists HDFS directories recursively: size, modification
// time (UTC) and path of every file, like `hdfs dfs -ls -R`.
//
//	go run ./tools/hdfscli/cmd/hdfsls [-namenode host:port] [path ...]
//
// The NameNode defaults to $SENSORNODE_HDFS_NAMENODE_ADDR, else the
// devstack's ($SENSORNODE_DEVSTACK_DIR or the repo's .devstack); the path
// to /sensornode.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/hdfscli"
)

func main() { svc.Main("hdfsls", run, nil) }

func run(_ context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hdfsls", flag.ContinueOnError)
	nn := fs.String("namenode", "", "NameNode RPC address host:port (default: see the package doc)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", svc.ErrUsage, err)
	}
	c, err := hdfscli.Connect(*nn)
	if err != nil {
		return err
	}
	defer c.Close()
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"/sensornode"}
	}
	var walk func(string) error
	walk = func(p string) error {
		fi, err := c.Stat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			fmt.Fprintf(stdout, "%10d  %s  %s\n", fi.Size(), fi.ModTime().UTC().Format("2006-01-02 15:04:05.000"), p)
			return nil
		}
		entries, err := c.ReadDir(p)
		if err != nil {
			return err
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			if err := walk(path.Join(p, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range paths {
		if err := walk(p); err != nil {
			if os.IsNotExist(err) {
				return fmt.Errorf("%s: no such file or directory", p)
			}
			return err
		}
	}
	return nil
}
