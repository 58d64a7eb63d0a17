// Package namenode reads what a picture store costs the HDFS NameNode: its
// object counts (FilesTotal, which counts every inode, files and
// directories, and BlocksTotal) from the NameNode's own JMX HTTP endpoint.
//
// The counts are read from the FSNamesystemState bean, not from
// FSNamesystem, which carries the same two attributes: FSNamesystem is a
// metrics2 source whose JMX view is a snapshot refreshed only every metrics
// period (on the devstack it showed the same counts for 20 s while files
// were created), FSNamesystemState reads the namespace when asked.
package namenode

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"github.com/sensornode/sensornode/libs/hdfsjmx"
)

// Query is the JMX bean holding the live object counts.
const Query = "Hadoop:service=NameNode,name=FSNamesystemState"

// Objects are the NameNode's object counts at one moment.
type Objects struct {
	Files  int64 `json:"files"`  // inodes: files and directories
	Blocks int64 `json:"blocks"` // blocks
}

// Total is files plus blocks: the objects the NameNode keeps in its heap.
func (o Objects) Total() int64 { return o.Files + o.Blocks }

// Sub is o - b.
func (o Objects) Sub(b Objects) Objects {
	return Objects{Files: o.Files - b.Files, Blocks: o.Blocks - b.Blocks}
}

// Read fetches the counts from the NameNode's HTTP address (host:port).
func Read(ctx context.Context, client *http.Client, httpAddr string) (Objects, error) {
	var bean struct{ FilesTotal, BlocksTotal *int64 }
	if err := hdfsjmx.Bean(ctx, client, httpAddr, Query, &bean); err != nil {
		return Objects{}, fmt.Errorf("namenode %w", err)
	}
	if bean.FilesTotal == nil || bean.BlocksTotal == nil {
		return Objects{}, fmt.Errorf("namenode jmx %s: no FilesTotal and BlocksTotal", Query)
	}
	return Objects{Files: *bean.FilesTotal, Blocks: *bean.BlocksTotal}, nil
}

// PerPicture is the objects added between before and after per picture
// stored; NaN without pictures.
func PerPicture(before, after Objects, pictures int) float64 {
	if pictures <= 0 {
		return math.NaN()
	}
	return float64(after.Sub(before).Total()) / float64(pictures)
}

// Blocks is how many blocks a file of size bytes takes at blockSize.
func Blocks(size, blockSize int64) int64 {
	if size <= 0 || blockSize <= 0 {
		return 0
	}
	return (size + blockSize - 1) / blockSize
}
