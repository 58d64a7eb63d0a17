package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/user"
	"time"

	"github.com/colinmarc/hdfs/v2"
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
	var st NameNodeState
	// No keep-alive: no idle connection (and its goroutines) outlives the call.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	info, err := jmxBean(ctx, client, httpAddr, "Hadoop:service=NameNode,name=NameNodeInfo")
	if err != nil {
		return st, err
	}
	fs, err := jmxBean(ctx, client, httpAddr, "Hadoop:service=NameNode,name=FSNamesystemState")
	if err != nil {
		return st, err
	}
	st.Safemode, _ = info["Safemode"].(string)
	st.FSState, _ = fs["FSState"].(string)
	if n, ok := fs["NumLiveDataNodes"].(float64); ok {
		st.LiveDataNodes = int(n)
	}
	if n, ok := fs["NumDeadDataNodes"].(float64); ok {
		st.NumDeadDataNodes = int(n)
	}
	return st, nil
}

func jmxBean(ctx context.Context, client *http.Client, httpAddr, query string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/jmx?qry="+query, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jmx %s: %s", query, resp.Status)
	}
	var body struct {
		Beans []map[string]any `json:"beans"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("jmx %s: %w", query, err)
	}
	if len(body.Beans) == 0 {
		return nil, fmt.Errorf("jmx %s: no bean", query)
	}
	return body.Beans[0], nil
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
