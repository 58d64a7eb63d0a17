package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/user"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/sensornode/sensornode/libs/hdfsjmx"
	"github.com/sensornode/sensornode/libs/hdfsretry"
)

// NameNodeState is what the NameNode's JMX tells about HDFS health.
type NameNodeState struct {
	Safemode         string // empty when out of safe mode
	LiveDataNodes    int
	FSState          string // "Operational" or "safeMode"
	NumDeadDataNodes int
}

// nameNodeState reads the NameNode's JMX over HTTP.
func nameNodeState(ctx context.Context, httpAddr string) (NameNodeState, error) {
	// No keep-alive: no idle connection (and its goroutines) outlives the call.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var info struct{ Safemode string }
	if err := hdfsjmx.Bean(ctx, client, httpAddr, "Hadoop:service=NameNode,name=NameNodeInfo", &info); err != nil {
		return NameNodeState{}, err
	}
	var fs struct {
		FSState                            string
		NumLiveDataNodes, NumDeadDataNodes int
	}
	if err := hdfsjmx.Bean(ctx, client, httpAddr, "Hadoop:service=NameNode,name=FSNamesystemState", &fs); err != nil {
		return NameNodeState{}, err
	}
	return NameNodeState{Safemode: info.Safemode, FSState: fs.FSState, LiveDataNodes: fs.NumLiveDataNodes,
		NumDeadDataNodes: fs.NumDeadDataNodes}, nil
}

// checkHDFS requires the NameNode out of safe mode with a live DataNode,
// and a small file written and removed.
func (s *Stack) checkHDFS(ctx context.Context, st *state, process string) error {
	l := st.layout()
	nn, err := nameNodeState(ctx, addr(l.NameNodeHTTP()))
	if err != nil {
		return &CheckError{Process: NameNodeName, Err: err}
	}
	if nn.Safemode != "" {
		return &CheckError{Process: NameNodeName, Err: fmt.Errorf("in safe mode: %s", nn.Safemode)}
	}
	if nn.LiveDataNodes < 1 {
		return &CheckError{Process: DataNodeName, Err: errors.New("no live datanode")}
	}
	if err := probeHDFS(ctx, addr(l.NameNodeRPC())); err != nil {
		return &CheckError{Process: process, Err: fmt.Errorf("write probe file: %w", err)}
	}
	return nil
}

// HDFSUser is the user the stack's own HDFS clients act as.
func HDFSUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "sensornode"
}

// deadlineDialer dials with ctx and gives the connection ctx's deadline, so
// an HDFS client call never outlives ctx (the client takes no context).
func deadlineDialer(ctx context.Context) func(context.Context, string, string) (net.Conn, error) {
	return func(dctx context.Context, network, address string) (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(dctx, network, address)
		if err != nil {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok {
			if err := c.SetDeadline(dl); err != nil {
				c.Close()
				return nil, err
			}
		}
		return c, nil
	}
}

func probeHDFS(ctx context.Context, nnAddr string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	c, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses:        []string{nnAddr},
		User:             HDFSUser(),
		NamenodeDialFunc: deadlineDialer(ctx),
		DatanodeDialFunc: deadlineDialer(ctx),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	const dir = "/.devstack"
	if err := c.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := dir + "/probe-" + randomHex(6)
	w, err := c.Create(name)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte("devstack probe\n")); err != nil {
		w.Close()
		return err
	}
	if err := hdfsretry.Close(w, time.Second, hdfsretry.UntilDone(ctx)); err != nil {
		return err
	}
	return c.Remove(name)
}
