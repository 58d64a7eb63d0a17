// Command hdfsget copies files from HDFS to a local directory, like
// `hdfs dfs -get`; a picture key instead of a path fetches that picture
// from either picture store (one ranged read from a bundle); with
// -latest N it fetches the N newest pictures under the given directory;
// with -bundle it exports every picture of a bundle as <key>.jpg, each
// checked against the SHA-256 in its record.
//
//	go run ./tools/hdfscli/cmd/hdfsget [-namenode host:port] [-o dir] path|key ...
//	go run ./tools/hdfscli/cmd/hdfsget -latest 5 /sensornode/camera/C1
//	go run ./tools/hdfscli/cmd/hdfsget -o /tmp/pics C1-20261207T130502Z-5f1c0a9e2b3d4c6f
//	go run ./tools/hdfscli/cmd/hdfsget -o /tmp/pics -bundle /sensornode/bundles/cameraData/0/2026/12/07/13/cameraData+0+1180+3342.avro
package main

import (
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/hdfscli"
)

func main() { svc.Main("hdfsget", hdfscli.Get, nil) }
