// Package hdfscli holds what the repository's small HDFS tools share:
// their -namenode flag, finding the NameNode (the one given, else
// $SENSORNODE_HDFS_NAMENODE_ADDR, else the devstack's), connecting, and
// walking a directory tree.
package hdfscli

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/bundlestore"
	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/tools/devstack"
)

// NameNode resolves the NameNode address.
func NameNode(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if a := os.Getenv("SENSORNODE_HDFS_NAMENODE_ADDR"); a != "" {
		return strings.Split(a, ",")[0], nil
	}
	dir, err := devstack.DefaultDir()
	if err != nil {
		return "", errors.New("no NameNode: pass -namenode or set SENSORNODE_HDFS_NAMENODE_ADDR")
	}
	st, err := devstack.Open(dir)
	if err != nil {
		return "", fmt.Errorf("no NameNode given and no devstack in %s: %w", dir, err)
	}
	return st.NameNodeAddr(), nil
}

// Connect opens a client as $SENSORNODE_HDFS_USER, else the devstack's
// user.
func Connect(flagValue string) (*hdfs.Client, error) {
	nn, err := NameNode(flagValue)
	if err != nil {
		return nil, err
	}
	user := os.Getenv("SENSORNODE_HDFS_USER")
	if user == "" {
		user = devstack.HDFSUser()
	}
	c, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{nn}, User: user})
	if err != nil {
		return nil, fmt.Errorf("hdfs %s: %w", nn, err)
	}
	return c, nil
}

// Flags is a command's flag set with the -namenode flag.
type Flags struct {
	*flag.FlagSet
	nameNode *string
}

// NewFlags returns the flag set of command name.
func NewFlags(name string) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	nn := fs.String("namenode", "", "NameNode RPC address host:port (default: $SENSORNODE_HDFS_NAMENODE_ADDR, else the devstack's)")
	return &Flags{FlagSet: fs, nameNode: nn}
}

// Parse parses args; a bad flag is an svc.ErrUsage.
func (f *Flags) Parse(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", svc.ErrUsage, err)
	}
	return nil
}

// AddStoreFlags adds the flags saying where the picture stores are:
// -layout (default $SENSORNODE_PICTURE_LAYOUT, else cloud-ingest-hdfs's
// default), -bundles ($SENSORNODE_PICTURE_BUNDLE_DIR, else its default)
// and -lookahead.
func (f *Flags) AddStoreFlags() *StoreConfig {
	cfg := &StoreConfig{}
	f.StringVar(&cfg.PictureLayout, "layout", cmp.Or(os.Getenv("SENSORNODE_PICTURE_LAYOUT"), DefaultPictureLayout),
		"the files store's picture layout (cloud-ingest-hdfs's SENSORNODE_PICTURE_LAYOUT)")
	f.StringVar(&cfg.BundleDir, "bundles", cmp.Or(os.Getenv("SENSORNODE_PICTURE_BUNDLE_DIR"), DefaultBundleDir),
		`the bundle store's directory (cloud-ingest-hdfs's SENSORNODE_PICTURE_BUNDLE_DIR; "" reads no bundles)`)
	f.DurationVar(&cfg.Lookahead, "lookahead", bundlestore.DefaultLookahead,
		"a picture captured in hour H is looked for in the bundles of the hour directories H .. H+lookahead (its ingest hour)")
	return cfg
}

// Connect connects to the NameNode of -namenode (see NameNode).
func (f *Flags) Connect() (*hdfs.Client, error) { return Connect(*f.nameNode) }

// DirReader lists a directory: *hdfs.Client is one.
type DirReader interface {
	ReadDir(dirname string) ([]os.FileInfo, error)
}

// Walk calls fn for every file below dir, depth first in name order. A
// subdirectory removed while Walk runs is skipped; any other error ends
// the walk.
func Walk(c DirReader, dir string, fn func(path string, fi os.FileInfo)) error {
	entries, err := c.ReadDir(dir)
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if !e.IsDir() {
			fn(p, e)
			continue
		}
		if err := Walk(c, p, fn); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
