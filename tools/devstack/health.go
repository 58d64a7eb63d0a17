package devstack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/user"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/go-zookeeper/zk"
	"github.com/sensornode/sensornode/libs/hdfsretry"
)

// CheckError is a failed health check; Process names the process whose log
// tells more, if any.
type CheckError struct {
	Process string
	Err     error
	// Permanent means polling will not fix it: the process is gone.
	Permanent bool
}

func (e *CheckError) Error() string {
	if e.Process == "" {
		return e.Err.Error()
	}
	return e.Process + ": " + e.Err.Error()
}

func (e *CheckError) Unwrap() error { return e.Err }

func checkErr(process string, err error) error {
	if err == nil {
		return nil
	}
	var ce *CheckError
	if errors.As(err, &ce) {
		return err
	}
	return &CheckError{Process: process, Err: err}
}

// pollInterval is the pause between health check rounds.
const pollInterval = 500 * time.Millisecond

// poll runs check until it passes, fails permanently, or ctx is done. The
// error then carries the tail of the log of the process that failed.
func (s *Stack) poll(ctx context.Context, what string, check func(context.Context) error) error {
	start := time.Now()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 30*time.Second)
		last = check(attempt)
		cancel()
		if last == nil {
			return nil
		}
		var ce *CheckError
		if errors.As(last, &ce) && ce.Permanent {
			return s.withLogTail(fmt.Errorf("%s: %w", what, last))
		}
		select {
		case <-ctx.Done():
			return s.withLogTail(fmt.Errorf("%s not healthy after %s: %w", what, time.Since(start).Round(time.Second), last))
		case <-t.C:
		}
	}
}

// withLogTail appends the last lines of the log of the process err names.
func (s *Stack) withLogTail(err error) error {
	var ce *CheckError
	if !errors.As(err, &ce) || ce.Process == "" {
		return err
	}
	return fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, logPath(s.dir, ce.Process), tailFile(logPath(s.dir, ce.Process), 25))
}

// checkAlive fails permanently if a process is gone, and for now if it is
// paused.
func checkAlive(st *state, p *process) error {
	switch st.status(p) {
	case procGone:
		return &CheckError{Process: p.Name, Err: ErrNotRunning, Permanent: true}
	case procStopped:
		return &CheckError{Process: p.Name, Err: errors.New("paused (SIGSTOP)")}
	}
	return nil
}

// checkStack checks the whole stack once.
func (s *Stack) checkStack(ctx context.Context, st *state) error {
	for _, p := range st.Processes {
		if err := checkAlive(st, p); err != nil {
			return err
		}
	}
	if err := s.checkEnsemble(ctx, st); err != nil {
		return err
	}
	if err := s.checkRegistrations(ctx, st); err != nil {
		return err
	}
	if err := s.checkEdgeTopic(ctx, st); err != nil {
		return err
	}
	if err := s.checkCloud(ctx, st); err != nil {
		return err
	}
	if st.HDFS {
		if err := s.checkHDFS(ctx, st, NameNodeName); err != nil {
			return err
		}
	}
	return nil
}

// checkProcess checks that one process is alive and serving.
func (s *Stack) checkProcess(ctx context.Context, st *state, p *process) error {
	if err := checkAlive(st, p); err != nil {
		return err
	}
	l := st.layout()
	switch p.Kind {
	case KindZooKeeper:
		_, err := zkServing(ctx, addr(l.ZooKeeperClient(p.Index)))
		return checkErr(p.Name, err)
	case KindEdgeKafka:
		if err := s.checkRegistered(ctx, st, EdgeChroot, []int{p.Index}, p.Name); err != nil {
			return err
		}
		return checkErr(p.Name, checkInSync(ctx, addr(p.Ports["plaintext"]), l.EdgeBootstrap(), int32(p.Index)))
	case KindCloudKafka:
		if err := s.checkRegistered(ctx, st, CloudChroot, []int{1}, p.Name); err != nil {
			return err
		}
		return s.checkCloud(ctx, st)
	case KindNameNode, KindDataNode:
		return s.checkHDFS(ctx, st, p.Name)
	}
	return nil
}

// zkServing asks a ZooKeeper server for its mode with the srvr four-letter
// word; it fails unless the server is in a quorum (leader or follower).
func zkServing(ctx context.Context, address string) (string, error) {
	mode, err := ZooKeeperMode(ctx, address)
	if err != nil {
		return "", err
	}
	if mode != "leader" && mode != "follower" {
		return mode, fmt.Errorf("mode %q, want leader or follower", mode)
	}
	return mode, nil
}

// ZooKeeperMode returns the Mode line of a ZooKeeper server's srvr answer:
// leader, follower, observer or standalone. A server outside a quorum
// answers without a mode; that is an error.
func ZooKeeperMode(ctx context.Context, address string) (string, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline := time.Now().Add(3 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, "srvr"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if err != nil {
		return "", fmt.Errorf("srvr: %w", err)
	}
	return parseSrvrMode(string(b))
}

func parseSrvrMode(answer string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(answer))
	for sc.Scan() {
		if mode, ok := strings.CutPrefix(sc.Text(), "Mode: "); ok {
			return strings.TrimSpace(mode), nil
		}
	}
	answer = strings.TrimSpace(answer)
	if answer == "" {
		answer = "empty answer"
	}
	return "", fmt.Errorf("srvr: no mode: %s", answer)
}

// checkEnsemble requires every member in the quorum and exactly one leader.
func (s *Stack) checkEnsemble(ctx context.Context, st *state) error {
	l := st.layout()
	leaders := 0
	for i := 1; i <= st.ZooKeepers; i++ {
		mode, err := zkServing(ctx, addr(l.ZooKeeperClient(i)))
		if err != nil {
			return checkErr(ZooKeeperName(i), err)
		}
		if mode == "leader" {
			leaders++
		}
	}
	if leaders != 1 {
		return &CheckError{Err: fmt.Errorf("zookeeper: %d leaders, want 1", leaders)}
	}
	return nil
}

// nopLogger silences go-zookeeper, which logs to the standard logger.
type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// withZK connects to the ensemble for the duration of f. When ctx is done
// the connection closes, which fails calls still waiting in f.
func withZK(ctx context.Context, servers []string, f func(*zk.Conn) error) error {
	conn, _, err := zk.Connect(servers, 10*time.Second, zk.WithLogger(nopLogger{}), zk.WithLogInfo(false))
	if err != nil {
		return err
	}
	done := make(chan struct{})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		select {
		case <-ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	defer func() {
		close(done)
		<-closed
		conn.Close()
	}()
	return f(conn)
}

// RegisteredBrokers lists the broker ids registered under chroot
// (EdgeChroot, CloudChroot), sorted.
func (s *Stack) RegisteredBrokers(ctx context.Context, chroot string) ([]int, error) {
	var ids []int
	err := withZK(ctx, s.ZooKeeperServers(), func(c *zk.Conn) error {
		var err error
		ids, err = brokerIDs(c, chroot)
		return err
	})
	return ids, err
}

func brokerIDs(c *zk.Conn, chroot string) ([]int, error) {
	children, _, err := c.Children(chroot + "/brokers/ids")
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s/brokers/ids: %w", chroot, err)
	}
	ids := make([]int, 0, len(children))
	for _, c := range children {
		id, err := strconv.Atoi(c)
		if err != nil {
			return nil, fmt.Errorf("broker id %q: %w", c, err)
		}
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids, nil
}

// checkRegistrations requires exactly the configured brokers in both
// chroots.
func (s *Stack) checkRegistrations(ctx context.Context, st *state) error {
	edge := make([]int, st.EdgeBrokers)
	for i := range edge {
		edge[i] = i + 1
	}
	return withZK(ctx, st.layout().ZooKeeperServers(), func(c *zk.Conn) error {
		for _, want := range []struct {
			chroot string
			ids    []int
			name   func(int) string
		}{
			{EdgeChroot, edge, EdgeKafkaName},
			{CloudChroot, []int{1}, func(int) string { return CloudKafkaName }},
		} {
			got, err := brokerIDs(c, want.chroot)
			if err != nil {
				return checkErr("", err)
			}
			for _, id := range want.ids {
				if !slices.Contains(got, id) {
					return &CheckError{Process: want.name(id), Err: fmt.Errorf("broker %d not registered in %s/brokers/ids (have %v)", id, want.chroot, got)}
				}
			}
			if len(got) != len(want.ids) {
				return &CheckError{Err: fmt.Errorf("%s/brokers/ids = %v, want %v", want.chroot, got, want.ids)}
			}
		}
		return nil
	})
}

// checkRegistered requires the given broker ids under chroot.
func (s *Stack) checkRegistered(ctx context.Context, st *state, chroot string, ids []int, process string) error {
	return withZK(ctx, st.layout().ZooKeeperServers(), func(c *zk.Conn) error {
		got, err := brokerIDs(c, chroot)
		if err != nil {
			return checkErr(process, err)
		}
		for _, id := range ids {
			if !slices.Contains(got, id) {
				return &CheckError{Process: process, Err: fmt.Errorf("broker %d not registered in %s/brokers/ids", id, chroot)}
			}
		}
		return nil
	})
}

// waitUnregistered waits until a broker's registration of an earlier, killed
// process has expired with its ZooKeeper session: a broker that starts
// before that fails on "node already exists".
func (s *Stack) waitUnregistered(ctx context.Context, st *state, chroot string, id int) error {
	path := fmt.Sprintf("%s/brokers/ids/%d", chroot, id)
	return withZK(ctx, st.layout().ZooKeeperServers(), func(c *zk.Conn) error {
		for {
			ok, _, ev, err := c.ExistsW(path)
			if err != nil {
				return fmt.Errorf("watch %s: %w", path, err)
			}
			if !ok {
				return nil
			}
			select {
			case <-ev:
			case <-ctx.Done():
				return fmt.Errorf("%s still registered: %w", path, context.Cause(ctx))
			}
		}
	})
}

// kafkaConfig is a librdkafka configuration for the stack's own probes:
// quiet, since failures are reported by the checks themselves.
func kafkaConfig(bootstrap string, extra map[string]string) *kafka.ConfigMap {
	cm := &kafka.ConfigMap{
		"bootstrap.servers":        bootstrap,
		"client.id":                "devstack",
		"log_level":                0,
		"socket.timeout.ms":        10000,
		"reconnect.backoff.max.ms": 1000,
	}
	for k, v := range extra {
		(*cm)[k] = v
	}
	return cm
}

func withAdmin(bootstrap string, extra map[string]string, f func(*kafka.AdminClient) error) error {
	a, err := kafka.NewAdminClient(kafkaConfig(bootstrap, extra))
	if err != nil {
		return err
	}
	defer a.Close()
	return f(a)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}

// probeTopic creates and deletes a topic.
func probeTopic(ctx context.Context, a *kafka.AdminClient, rf int) error {
	name := "devstack-probe-" + randomHex(6)
	res, err := a.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: name, NumPartitions: 1, ReplicationFactor: rf}},
		kafka.SetAdminOperationTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("create probe topic: %w", err)
	}
	if err := topicResultErr(res); err != nil {
		return fmt.Errorf("create probe topic: %w", err)
	}
	res, err = a.DeleteTopics(ctx, []string{name}, kafka.SetAdminOperationTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("delete probe topic: %w", err)
	}
	if err := topicResultErr(res); err != nil {
		return fmt.Errorf("delete probe topic: %w", err)
	}
	return nil
}

func topicResultErr(res []kafka.TopicResult) error {
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("%s: %w", r.Topic, r.Error)
		}
	}
	return nil
}

// ensureOffsetsTopic makes the broker create __consumer_offsets now, while
// every broker is up (a group lookup creates it), so that consumer groups
// also work later with a broker down.
func ensureOffsetsTopic(ctx context.Context, a *kafka.AdminClient) error {
	res, err := a.DescribeConsumerGroups(ctx, []string{"devstack-probe"})
	if err != nil {
		return fmt.Errorf("consumer group coordinator: %w", err)
	}
	for _, d := range res.ConsumerGroupDescriptions {
		if d.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("consumer group coordinator: %w", d.Error)
		}
	}
	return nil
}

// checkEdgeTopic creates and deletes an RF-3 topic on the edge cluster and
// checks the group coordinator.
func (s *Stack) checkEdgeTopic(ctx context.Context, st *state) error {
	err := withAdmin(st.layout().EdgeBootstrap(), nil, func(a *kafka.AdminClient) error {
		if err := probeTopic(ctx, a, 3); err != nil {
			return err
		}
		return ensureOffsetsTopic(ctx, a)
	})
	if err != nil {
		return &CheckError{Err: fmt.Errorf("edge kafka: %w", err)}
	}
	return nil
}

// checkInSync requires broker id to be in the ISR of every partition it
// hosts, and a metadata round trip through its own listener.
func checkInSync(ctx context.Context, own, bootstrap string, id int32) error {
	err := withAdmin(own, nil, func(a *kafka.AdminClient) error {
		md, err := a.GetMetadata(nil, false, timeoutMS(ctx, 10*time.Second))
		if err != nil {
			return fmt.Errorf("metadata from %s: %w", own, err)
		}
		if !slices.ContainsFunc(md.Brokers, func(b kafka.BrokerMetadata) bool { return b.ID == id }) {
			return fmt.Errorf("broker %d not in metadata from %s", id, own)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return withAdmin(bootstrap, nil, func(a *kafka.AdminClient) error {
		md, err := a.GetMetadata(nil, true, timeoutMS(ctx, 10*time.Second))
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		for _, t := range md.Topics {
			for _, p := range t.Partitions {
				if slices.Contains(p.Replicas, id) && !slices.Contains(p.Isrs, id) {
					return fmt.Errorf("broker %d not yet in the ISR of %s-%d (isr %v)", id, t.Topic, p.ID, p.Isrs)
				}
			}
		}
		return nil
	})
}

func timeoutMS(ctx context.Context, limit time.Duration) int {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < limit {
			limit = d
		}
	}
	return int(max(limit, time.Millisecond).Milliseconds())
}

// cloudSecureConfig is the librdkafka configuration of the SASL_SSL
// listener.
func cloudSecureConfig(st *state, caFile string) map[string]string {
	return map[string]string{
		"security.protocol": "SASL_SSL",
		"sasl.mechanisms":   "SCRAM-SHA-512",
		"sasl.username":     st.SCRAMUser,
		"sasl.password":     st.SCRAMPass,
		"ssl.ca.location":   caFile,
	}
}

// ensureSCRAMUser creates or updates the SCRAM-SHA-512 user through the
// PLAINTEXT listener (credentials live in ZooKeeper under /cloud).
func (s *Stack) ensureSCRAMUser(ctx context.Context, st *state) error {
	err := withAdmin(addr(st.layout().CloudPlaintext()), nil, func(a *kafka.AdminClient) error {
		res, err := a.AlterUserScramCredentials(ctx, []kafka.UserScramCredentialUpsertion{{
			User:                st.SCRAMUser,
			ScramCredentialInfo: kafka.ScramCredentialInfo{Mechanism: kafka.ScramMechanismSHA512, Iterations: 8192},
			Password:            []byte(st.SCRAMPass),
		}}, nil)
		if err != nil {
			return err
		}
		if e, ok := res.Errors[st.SCRAMUser]; ok && e.Code() != kafka.ErrNoError {
			return e
		}
		return nil
	})
	return checkErr(CloudKafkaName, err)
}

// checkCloud needs a metadata round trip on PLAINTEXT and a topic created
// and deleted through SASL_SSL as the SCRAM user.
func (s *Stack) checkCloud(ctx context.Context, st *state) error {
	l := st.layout()
	err := withAdmin(addr(l.CloudPlaintext()), nil, func(a *kafka.AdminClient) error {
		_, err := a.GetMetadata(nil, false, timeoutMS(ctx, 10*time.Second))
		return err
	})
	if err != nil {
		return &CheckError{Process: CloudKafkaName, Err: fmt.Errorf("plaintext metadata: %w", err)}
	}
	err = withAdmin(addr(l.CloudSASLSSL()), cloudSecureConfig(st, newTLSPaths(st.Dir).CACert), func(a *kafka.AdminClient) error {
		return probeTopic(ctx, a, 1)
	})
	if err != nil {
		return &CheckError{Process: CloudKafkaName, Err: fmt.Errorf("sasl_ssl: %w", err)}
	}
	return nil
}

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
