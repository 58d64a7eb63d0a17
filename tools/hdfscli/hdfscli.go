// Package hdfscli connects the small HDFS commands (hdfsls, hdfsget) to a
// NameNode: the one given, else $SENSORNODE_HDFS_NAMENODE_ADDR, else the
// devstack's.
package hdfscli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/colinmarc/hdfs/v2"
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
