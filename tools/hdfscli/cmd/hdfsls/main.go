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
	"fmt"
	"io"
	"os"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/hdfscli"
)

func main() { svc.Main("hdfsls", run, nil) }

func run(_ context.Context, args []string, stdout io.Writer) error {
	fs := hdfscli.NewFlags("hdfsls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := fs.Connect()
	if err != nil {
		return err
	}
	defer c.Close()
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
			err = hdfscli.Walk(c, p, list)
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
