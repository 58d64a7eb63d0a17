// Command hdfsls lists HDFS directories recursively: size, modification
// time (UTC) and path of every file, like `hdfs dfs -ls -R`; with -camera
// and -hour or -day, one camera's pictures from both picture stores (the
// files store and the bundles, through their indexes), one line per key
// with the stores that hold it.
//
//	go run ./tools/hdfscli/cmd/hdfsls [-namenode host:port] [path ...]
//	go run ./tools/hdfscli/cmd/hdfsls -camera C1 -hour 2026-12-07T13
//	go run ./tools/hdfscli/cmd/hdfsls -camera C1 -day 2026-12-07
//
// The NameNode defaults to $SENSORNODE_HDFS_NAMENODE_ADDR, else the
// devstack's ($SENSORNODE_DEVSTACK_DIR or the repo's .devstack); the path
// to /sensornode.
package main

import (
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/hdfscli"
)

func main() { svc.Main("hdfsls", hdfscli.Ls, nil) }
