// Package devstacktest gives integration tests the shared devstack:
//
//	func TestMain(m *testing.M) { devstacktest.Main(m) }
//
//	func TestIntegrationX(t *testing.T) {
//		st := devstacktest.Stack(t)
//		topic := devstacktest.UniqueTopic(t, "x")
//		devstacktest.CreateTopic(t, st.EdgeBootstrap(), topic, 3, 3)
//		...
//	}
//
// Stack reuses the stack in $SENSORNODE_DEVSTACK_DIR (default: .devstack at
// the repo root) when it is healthy, starts what of it is missing, or brings
// a whole one up. A stack that tests brought up is stopped when the last
// test binary using it ends (test binaries of several packages may run at
// once: each holds a shared lock on the stack while it runs); a stack that
// `devstack up` brought up is left running.
package devstacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"go.uber.org/goleak"

	"github.com/sensornode/sensornode/libs/hdfsretry"
	"github.com/sensornode/sensornode/tools/devstack"
)

// Environment variables read by this package.
const (
	// EnvDir overrides the stack dir.
	EnvDir = devstack.EnvDir
	// EnvPortBase sets the port base of a stack the tests bring up.
	EnvPortBase = "SENSORNODE_DEVSTACK_PORT_BASE"
)

// Timeouts of the helpers.
const (
	upTimeout      = 8 * time.Minute
	restartTimeout = 3 * time.Minute
	downTimeout    = 3 * time.Minute
)

const usersLockName = "users.lock"

var (
	mu         sync.Mutex
	mainCalled bool
	shared     *devstack.Stack
	lease      *devstack.FileLock // shared lock on users.lock while this binary uses the stack
	setupErr   error
)

// Main runs the tests; use it as TestMain. When they end it gives up this
// binary's use of the stack (stopping it if tests brought it up and no
// other test binary uses it), then checks for leaked goroutines with
// goleak, ignoring those ignore names.
func Main(m *testing.M, ignore ...goleak.Option) {
	mu.Lock()
	mainCalled = true
	mu.Unlock()
	code := m.Run()
	if err := release(); err != nil {
		fmt.Fprintln(os.Stderr, "devstacktest:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(ignore...); err != nil {
			fmt.Fprintln(os.Stderr, "devstacktest: goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Dir is the stack dir tests use: $SENSORNODE_DEVSTACK_DIR, else .devstack
// at the repo root (the directory holding go.mod above the working dir).
func Dir() (string, error) {
	d, err := devstack.DefaultDir()
	if err != nil {
		return "", fmt.Errorf("%w (set %s)", err, EnvDir)
	}
	return d, nil
}

// Stack returns the shared stack, healthy, bringing it up if needed. It
// never skips: a missing stack is started. It needs Main in TestMain.
//
// The calling test (with its subtests) shares the stack with the tests of
// other test binaries until it ends; a test that disrupts the stack
// (Exclusive, KillForTest, ...) waits until it has the stack to itself.
func Stack(tb testing.TB) *devstack.Stack {
	tb.Helper()
	st := stack(tb)
	share(tb, st)
	return st
}

func stack(tb testing.TB) *devstack.Stack {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !mainCalled {
		tb.Fatal("devstacktest.Stack needs `func TestMain(m *testing.M) { devstacktest.Main(m) }` in the package, so the stack is released when tests end")
	}
	if shared != nil {
		return shared
	}
	if setupErr != nil {
		tb.Fatalf("devstack (failed earlier): %v", setupErr)
	}
	st, err := acquire(tb)
	if err != nil {
		setupErr = err
		tb.Fatalf("devstack: %v", err)
	}
	shared = st
	return st
}

// acquire takes this binary's shared lock on the stack and brings it up.
func acquire(tb testing.TB) (*devstack.Stack, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	// Waits while another test binary stops the stack.
	l, err := devstack.LockFile(ctx, filepath.Join(dir, usersLockName), syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	cfg := devstack.Config{Dir: dir, OwnedByTests: true, Logger: testLogger()}
	if prev, err := devstack.Open(dir); err == nil {
		lay := prev.Layout()
		cfg.PortBase, cfg.ZooKeepers, cfg.EdgeBrokers, cfg.NoHDFS = lay.Base, lay.ZooKeepers, lay.EdgeBrokers, !lay.HDFS
	} else if v := os.Getenv(EnvPortBase); v != "" {
		if cfg.PortBase, err = strconv.Atoi(v); err != nil {
			l.Unlock()
			return nil, fmt.Errorf("%s: %w", EnvPortBase, err)
		}
	}
	start := time.Now()
	st, err := devstack.Up(ctx, cfg)
	if err != nil {
		l.Unlock()
		return nil, err
	}
	tb.Logf("devstack: %s healthy after %s (owned by tests: %t)", dir, time.Since(start).Round(time.Millisecond), st.OwnedByTests())
	lease = l
	return st, nil
}

// release gives up this binary's lock; the last user of a stack that tests
// brought up stops it.
func release() error {
	mu.Lock()
	defer mu.Unlock()
	if lease == nil {
		return nil
	}
	lease.Unlock()
	lease = nil
	dir := shared.Dir()
	ex, ok, err := devstack.TryLockFile(filepath.Join(dir, usersLockName), syscall.LOCK_EX)
	if err != nil || !ok {
		return err // another test binary still uses the stack
	}
	defer ex.Unlock()
	st, err := devstack.Open(dir)
	if err != nil {
		return err
	}
	if !st.OwnedByTests() || !st.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	if err := st.Down(ctx); err != nil {
		return fmt.Errorf("stop devstack: %w", err)
	}
	return nil
}

// Tests of every binary using a stack coordinate through two flocks in the
// stack dir: a test holds tests.lock shared while it uses the stack, and
// exclusively while it disrupts it. A disruptor holds tests.gate
// exclusively from before it waits, and users pass the gate shared, so a
// stream of short tests cannot starve it.
const (
	testsLockName = "tests.lock"
	testsGateName = "tests.gate"
	lockTimeout   = 15 * time.Minute
)

// testLock is the lock a top-level test (and its subtests) holds.
type testLock struct {
	exclusive bool
	lock      *devstack.FileLock
	gate      *devstack.FileLock
}

func (l *testLock) release() {
	l.lock.Unlock()
	l.gate.Unlock()
}

// testLocks maps top-level test names to their locks; guarded by mu.
var testLocks = map[string]*testLock{}

// topName is the top-level test of tb: subtests share its lock, so a
// subtest that disrupts the stack does not wait for its own parent.
func topName(tb testing.TB) string {
	name, _, _ := strings.Cut(tb.Name(), "/")
	return name
}

// share takes tests.lock shared for tb's top-level test, once.
func share(tb testing.TB, st *devstack.Stack) {
	tb.Helper()
	key := topName(tb)
	mu.Lock()
	_, held := testLocks[key]
	mu.Unlock()
	if held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	gate, err := devstack.LockFile(ctx, filepath.Join(st.Dir(), testsGateName), syscall.LOCK_SH)
	if err != nil {
		tb.Fatalf("wait for tests disrupting the stack: %v", err)
	}
	l, err := devstack.LockFile(ctx, filepath.Join(st.Dir(), testsLockName), syscall.LOCK_SH)
	gate.Unlock()
	if err != nil {
		tb.Fatalf("wait for tests disrupting the stack: %v", err)
	}
	hold(tb, key, &testLock{lock: l})
}

// hold records a lock and releases it when tb ends.
func hold(tb testing.TB, key string, l *testLock) {
	mu.Lock()
	testLocks[key] = l
	mu.Unlock()
	tb.Cleanup(func() {
		mu.Lock()
		held := testLocks[key]
		delete(testLocks, key)
		mu.Unlock()
		if held != nil {
			held.release()
		}
	})
}

// Exclusive gives the calling test the stack to itself: it waits until the
// tests of every binary using the stack that started before are done, keeps
// new ones waiting until this test (its top-level test) ends, and checks
// that the stack is healthy. Call it before disrupting the stack by hand
// (Kill, Pause, the cloud faultproxy); KillForTest and friends call it.
func Exclusive(tb testing.TB, st *devstack.Stack) {
	tb.Helper()
	key := topName(tb)
	mu.Lock()
	cur := testLocks[key]
	mu.Unlock()
	if cur != nil && cur.exclusive {
		return
	}
	if cur != nil {
		cur.lock.Unlock() // our own shared lock would block us
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	start := time.Now()
	gate, err := devstack.LockFile(ctx, filepath.Join(st.Dir(), testsGateName), syscall.LOCK_EX)
	if err != nil {
		tb.Fatalf("wait for other tests using the stack: %v", err)
	}
	l, err := devstack.LockFile(ctx, filepath.Join(st.Dir(), testsLockName), syscall.LOCK_EX)
	if err != nil {
		gate.Unlock()
		tb.Fatalf("wait for other tests using the stack: %v", err)
	}
	excl := &testLock{exclusive: true, lock: l, gate: gate}
	if cur != nil {
		mu.Lock()
		*cur = *excl // released by the cleanup share registered
		mu.Unlock()
	} else {
		hold(tb, key, excl)
	}
	if waited := time.Since(start); waited > time.Second {
		tb.Logf("devstack: waited %s for other tests to finish", waited.Round(time.Millisecond))
	}
	if err := st.WaitHealthy(ctx); err != nil {
		tb.Fatalf("devstack not healthy: %v", err)
	}
}

// KillForTest kills a process with SIGKILL. The test's cleanup starts it
// again and waits until it is healthy, so the next test finds a healthy
// stack.
func KillForTest(tb testing.TB, st *devstack.Stack, name string) {
	tb.Helper()
	SignalForTest(tb, st, name, syscall.SIGKILL)
}

// SignalForTest sends sig to a process and waits until it is gone, like
// KillForTest.
func SignalForTest(tb testing.TB, st *devstack.Stack, name string, sig syscall.Signal) {
	tb.Helper()
	Exclusive(tb, st)
	RestartOnCleanup(tb, st, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := st.Kill(ctx, name, sig); err != nil {
		tb.Fatalf("kill %s: %v", name, err)
	}
}

// RestartOnCleanup makes the test's cleanup start a process (if it is not
// running, or resume it if paused) and wait until it is healthy. It runs
// before the test gives up Exclusive.
func RestartOnCleanup(tb testing.TB, st *devstack.Stack, name string) {
	tb.Helper()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), restartTimeout)
		defer cancel()
		start := time.Now()
		if err := st.Start(ctx, name); err != nil {
			tb.Errorf("cleanup: restart %s: %v", name, err)
			return
		}
		tb.Logf("cleanup: %s healthy again after %s", name, time.Since(start).Round(time.Millisecond))
	})
}

// PauseForTest stops a process with SIGSTOP; the test's cleanup resumes it
// and waits until it is healthy.
func PauseForTest(tb testing.TB, st *devstack.Stack, name string) {
	tb.Helper()
	Exclusive(tb, st)
	RestartOnCleanup(tb, st, name)
	if err := st.Pause(name); err != nil {
		tb.Fatalf("pause %s: %v", name, err)
	}
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// uniqueName is prefix-testname-random, safe for topics and paths.
func uniqueName(tb testing.TB, prefix string) string {
	name := unsafeChars.ReplaceAllString(tb.Name(), "_")
	if len(name) > 120 {
		name = name[:120]
	}
	return strings.Trim(prefix+"-"+name, "-") + "-" + randomHex(4)
}

// UniqueTopic is a topic name no other test uses: prefix, the test name,
// random hex.
func UniqueTopic(tb testing.TB, prefix string) string {
	tb.Helper()
	return uniqueName(tb, prefix)
}

// UniquePath is an absolute HDFS path no other test uses, under
// /sensornode-test.
func UniquePath(tb testing.TB, prefix string) string {
	tb.Helper()
	return "/sensornode-test/" + uniqueName(tb, prefix)
}

// CreateTopic creates a topic through the PLAINTEXT listener at bootstrap,
// waits until every partition has a leader, and deletes it when the test
// ends.
func CreateTopic(tb testing.TB, bootstrap, name string, partitions, rf int) {
	tb.Helper()
	CreateTopicWith(tb, map[string]string{"bootstrap.servers": bootstrap}, name, partitions, rf)
}

// CreateTopicWith is CreateTopic with a librdkafka client configuration,
// for example the cloud SASL_SSL listener's (Stack.CloudSecureConfig plus
// bootstrap.servers).
func CreateTopicWith(tb testing.TB, config map[string]string, name string, partitions, rf int) {
	tb.Helper()
	cm := kafka.ConfigMap{"log_level": 3}
	for k, v := range config {
		cm[k] = v
	}
	a, err := kafka.NewAdminClient(&cm)
	if err != nil {
		tb.Fatalf("admin client: %v", err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := a.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: name, NumPartitions: partitions, ReplicationFactor: rf}},
		kafka.SetAdminOperationTimeout(30*time.Second))
	if err == nil && len(res) == 1 && res[0].Error.Code() != kafka.ErrNoError {
		err = res[0].Error
	}
	if err != nil {
		tb.Fatalf("create topic %s: %v", name, err)
	}
	deleteAtEnd(tb, cm, name)
	// Brokers learn about a new topic one by one: wait until each bootstrap
	// broker's metadata has it with a leader for every partition, so that a
	// client asking any of them next finds it.
	for _, broker := range strings.Split(config["bootstrap.servers"], ",") {
		if err := waitTopicReady(ctx, cm, broker, name, partitions); err != nil {
			tb.Fatalf("topic %s: %v", name, err)
		}
	}
}

// waitTopicReady polls one broker's metadata until the topic is ready.
func waitTopicReady(ctx context.Context, cm kafka.ConfigMap, broker, name string, partitions int) error {
	one := kafka.ConfigMap{}
	for k, v := range cm {
		one[k] = v
	}
	one["bootstrap.servers"] = broker
	a, err := kafka.NewAdminClient(&one)
	if err != nil {
		return err
	}
	defer a.Close()
	for {
		err := topicReady(a, name, partitions)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("metadata from %s: %w", broker, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func topicReady(a *kafka.AdminClient, name string, partitions int) error {
	md, err := a.GetMetadata(&name, false, 5000)
	if err != nil {
		return err
	}
	t, ok := md.Topics[name]
	if !ok || t.Error.Code() != kafka.ErrNoError {
		return fmt.Errorf("not in metadata yet: %v", t.Error)
	}
	if len(t.Partitions) != partitions {
		return fmt.Errorf("%d of %d partitions in metadata", len(t.Partitions), partitions)
	}
	for _, p := range t.Partitions {
		if p.Leader < 0 {
			return fmt.Errorf("partition %d has no leader", p.ID)
		}
	}
	return nil
}

// DeleteTopicsAtEnd deletes topics when the test ends, after everything
// registered later (the service under test that created them) has stopped.
// A failure is only logged.
func DeleteTopicsAtEnd(tb testing.TB, bootstrap string, names ...string) {
	deleteAtEnd(tb, kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3}, names...)
}

func deleteAtEnd(tb testing.TB, cm kafka.ConfigMap, names ...string) {
	tb.Cleanup(func() {
		if err := deleteTopics(cm, 30*time.Second, false, names...); err != nil {
			tb.Logf("cleanup: %v", err)
		}
	})
}

// DeleteTopic deletes a topic now and waits until the brokers have
// forgotten it, so that it can be created again.
func DeleteTopic(tb testing.TB, bootstrap, name string) {
	tb.Helper()
	cm := kafka.ConfigMap{"bootstrap.servers": bootstrap, "log_level": 3}
	if err := deleteTopics(cm, time.Minute, true, name); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(2 * time.Second) // let the brokers finish removing the log
}

// deleteTopics deletes the topics within timeout and, with wait, waits
// until the metadata no longer has them.
func deleteTopics(cm kafka.ConfigMap, timeout time.Duration, wait bool, names ...string) error {
	a, err := kafka.NewAdminClient(&cm)
	if err != nil {
		return fmt.Errorf("delete topics %v: %w", names, err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := a.DeleteTopics(ctx, names)
	if err != nil {
		return fmt.Errorf("delete topics %v: %w", names, err)
	}
	var errs []error
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", r.Topic, r.Error))
		}
	}
	if len(errs) > 0 || !wait {
		return errors.Join(errs...)
	}
	for _, name := range names {
		for !topicGone(a, name) {
			if ctx.Err() != nil {
				return fmt.Errorf("topic %s still there after delete", name)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func topicGone(a *kafka.AdminClient, name string) bool {
	md, err := a.GetMetadata(&name, false, 5000)
	if err != nil {
		return strings.Contains(err.Error(), "Unknown topic")
	}
	tm, ok := md.Topics[name]
	return !ok || tm.Error.Code() == kafka.ErrUnknownTopicOrPart
}

// HDFSClient returns a client of the stack's NameNode, closed when the test
// ends.
func HDFSClient(tb testing.TB, st *devstack.Stack) *hdfs.Client {
	tb.Helper()
	c, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{st.NameNodeAddr()}, User: devstack.HDFSUser()})
	if err != nil {
		tb.Fatalf("hdfs client: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			tb.Logf("cleanup: close hdfs client: %v", err)
		}
	})
	return c
}

// testLogger reports the stack's progress on stderr with go test -v. The
// stack outlives the test that brought it up, so it cannot log to that test.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return hex.EncodeToString(b)
}

// WriteHDFS writes data to name, its directory created, and closes it as
// ingest does (again while the NameNode answers that replication is in
// progress): a fixture for tests that read what a store left in HDFS.
func WriteHDFS(tb testing.TB, c *hdfs.Client, name string, data []byte) {
	tb.Helper()
	if err := c.MkdirAll(path.Dir(name), 0o755); err != nil {
		tb.Fatal(err)
	}
	w, err := c.Create(name)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := hdfsretry.Close(w, time.Second, hdfsretry.UntilDone(ctx)); err != nil {
		tb.Fatal(err)
	}
}
