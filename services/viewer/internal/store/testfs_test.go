package store

import (
	"errors"
	"io/fs"

	"github.com/sensornode/sensornode/libs/bundlestore/bundlestoretest"
)

// testFS is bundlestoretest's in-memory file system as the store's
// fileSystem, whose ReadDir (HDFS's) is not told whether the directory may
// still change.
type testFS struct{ *bundlestoretest.MemFS }

func newTestFS() testFS { return testFS{bundlestoretest.NewMemFS()} }

func (f testFS) ReadDir(dir string) ([]fs.FileInfo, error) { return f.MemFS.ReadDir(dir, true) }

var errInjected = errors.New("injected hdfs failure")
