package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// unreachable is a loopback port nothing listens on.
var unreachable = []string{"127.0.0.1:1"}

func franzClient(t *testing.T, extra []kgo.Opt) *kgo.Client {
	t.Helper()
	opts, err := franzCommon(Config{Brokers: unreachable, ClientID: "unit"}, buildOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

type optWant struct {
	opt  string // a kgo option's name
	want string
}

func checkOpts(t *testing.T, cl *kgo.Client, wants []optWant) {
	t.Helper()
	for _, w := range wants {
		if got := fmt.Sprint(cl.OptValue(w.opt)); got != w.want {
			t.Errorf("kgo.%s = %s, want %s", w.opt, got, w.want)
		}
	}
}

func TestFranzProducerOptions(t *testing.T) {
	base := ProducerConfig{Config: Config{Brokers: unreachable}, Linger: 5 * time.Millisecond,
		MaxMessageBytes: 8 << 20, QueueMaxBytes: 16 << 20, DeliveryTimeout: 2 * time.Minute}
	tests := []struct {
		name  string
		give  func(*ProducerConfig)
		wants []optWant
	}{
		{"defaults", func(*ProducerConfig) {}, []optWant{
			{"RequiredAcks", "{-1}"},            // acks=all
			{"DisableIdempotentWrite", "false"}, // idempotent
			{"ProducerLinger", "5ms"},
			{"ProducerBatchMaxBytes", fmt.Sprint(8 << 20)},
			{"MaxBufferedBytes", fmt.Sprint(16<<20 + 8<<20)},
			{"MaxBufferedRecords", fmt.Sprint(DefaultQueueMaxMessages + 1)},
			{"RecordDeliveryTimeout", "2m0s"},
			{"ProducerBatchCompression", "[{0 0}]"}, // none
			{"MetadataMaxAge", "10s"},
		}},
		{"queue of 500 messages", func(c *ProducerConfig) { c.QueueMaxMessages = 500 }, []optWant{
			{"MaxBufferedRecords", "501"},
		}},
		{"retry forever", func(c *ProducerConfig) { c.DeliveryTimeout = 0 }, []optWant{
			{"RecordDeliveryTimeout", "0s"},
			{"RecordRetries", fmt.Sprint(int64(1<<31 - 1))},
		}},
		{"small messages, no linger", func(c *ProducerConfig) { c.MaxMessageBytes, c.QueueMaxBytes, c.Linger = 100000, 1<<20, 0 }, []optWant{
			{"ProducerLinger", "0s"},
			{"ProducerBatchMaxBytes", "100000"},
			{"MaxBufferedBytes", fmt.Sprint(1<<20 + 100000)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.give(&cfg)
			checkOpts(t, franzClient(t, franzProducerOpts(cfg)), tt.wants)
		})
	}
}

func TestFranzConsumerOptions(t *testing.T) {
	base := ConsumerConfig{Config: Config{Brokers: unreachable}, GroupID: "g", Topics: []string{"cameraData"},
		MaxFetchBytes: 8 << 20, QueueMaxBytes: 16 << 20, SessionTimeout: 10 * time.Second}
	tests := []struct {
		name  string
		give  func(*ConsumerConfig)
		wants []optWant
	}{
		{"defaults", func(*ConsumerConfig) {}, []optWant{
			{"ConsumerGroup", "g"},
			{"ConsumeTopics", "[cameraData]"},
			{"ConsumeRegex", "false"},
			{"DisableAutoCommit", "true"},
			{"BlockRebalanceOnPoll", "true"},
			{"FetchIsolationLevel", "1"}, // read_committed
			{"ConsumeStartOffset", fmt.Sprint(kgo.NewOffset().AtStart())},
			{"ConsumeResetOffset", fmt.Sprint(kgo.NewOffset().AtStart())},
			{"SessionTimeout", "10s"},
			{"HeartbeatInterval", "2.5s"},
			{"FetchMaxPartitionBytes", fmt.Sprint(16 << 20 / 5)}, // franz-go caps it at FetchMaxBytes
			{"FetchMaxBytes", fmt.Sprint(16 << 20 / 5)},          // 4 fetches in flight or buffered, 1 taken (Poll) of 3.2 MiB = 16 MiB
			{"MaxConcurrentFetches", "4"},
			{"FetchMaxWait", "100ms"},
		}},
		{"latest", func(c *ConsumerConfig) { c.FromLatest = true }, []optWant{
			{"ConsumeStartOffset", fmt.Sprint(kgo.NewOffset().AtEnd())},
			{"ConsumeResetOffset", fmt.Sprint(kgo.NewOffset().AtEnd())},
		}},
		{"mixed literal and regex", func(c *ConsumerConfig) { c.Topics = []string{"camera.Data", "^node[0-9]+$"} }, []optWant{
			{"ConsumeTopics", `[^camera\.Data$ ^node[0-9]+$]`},
			{"ConsumeRegex", "true"},
		}},
		{"big queue, capped fetches", func(c *ConsumerConfig) { c.MaxFetchBytes, c.QueueMaxBytes = 1<<20, 64<<20 }, []optWant{
			{"MaxConcurrentFetches", fmt.Sprint(franzMaxConcurrent)},
			{"FetchMaxBytes", fmt.Sprint(64 << 20 / (franzMaxConcurrent + 1))},
			{"FetchMaxPartitionBytes", fmt.Sprint(1 << 20)},
		}},
		// The libs/bus defaults. A fetch as large as the queue must not
		// leave one slot: an idle broker's fetch would hold it for
		// FetchMaxWait (20261207-fetch-default: 70 pictures/s).
		{"queue equals fetch", func(c *ConsumerConfig) { c.MaxFetchBytes, c.QueueMaxBytes = 4<<20, 4<<20 }, []optWant{
			{"MaxConcurrentFetches", "3"},
			{"FetchMaxBytes", fmt.Sprint(1 << 20)}, // at least one batch comes anyway
			{"FetchMaxPartitionBytes", fmt.Sprint(1 << 20)},
		}},
		{"small queue", func(c *ConsumerConfig) { c.MaxFetchBytes, c.QueueMaxBytes = 1<<20, 2<<20 }, []optWant{
			{"MaxConcurrentFetches", "1"},
			{"FetchMaxBytes", fmt.Sprint(1 << 20)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.give(&cfg)
			opts, _, err := franzConsumerOpts(cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkOpts(t, franzClient(t, opts), tt.wants)
		})
	}
}

func TestFranzTopics(t *testing.T) {
	tests := []struct {
		name      string
		give      []string
		want      []string
		wantRegex bool
		wantErr   bool
	}{
		{"literals", []string{"a", "b.c"}, []string{"a", "b.c"}, false, false},
		{"regex", []string{"^node[0-9]+$"}, []string{"^node[0-9]+$"}, true, false},
		{"mixed", []string{"a.b", "^node[0-9]+$"}, []string{`^a\.b$`, "^node[0-9]+$"}, true, false},
		{"bad regex", []string{"^node[0-9+$"}, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, regex, err := franzTopics(tt.give)
			if (err != nil) != tt.wantErr {
				t.Fatalf("franzTopics(%q) error = %v, want error %t", tt.give, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) || regex != tt.wantRegex {
				t.Errorf("franzTopics(%q) = %q, %t; want %q, %t", tt.give, got, regex, tt.want, tt.wantRegex)
			}
		})
	}
	// The converted literal matches only itself.
	got, _, _ := franzTopics([]string{"a.b", "^x"})
	re := regexp.MustCompile(got[0])
	if !re.MatchString("a.b") || re.MatchString("axb") || re.MatchString("a.bc") {
		t.Errorf("literal a.b became %q, which matches the wrong names", got[0])
	}
}

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

func TestFranzTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	notPEM := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		give    TLSConfig
		wantErr bool
		check   func(t *testing.T, certs, roots int, serverName string, skip bool)
	}{
		{"system roots", TLSConfig{Enabled: true}, false, func(t *testing.T, certs, roots int, sn string, skip bool) {
			if certs != 0 || roots != -1 || sn != "" || skip {
				t.Errorf("certs %d roots %d server name %q skip %t", certs, roots, sn, skip)
			}
		}},
		{"ca, client cert, server name, skip verify", TLSConfig{Enabled: true, CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "kafka.test", InsecureSkipVerify: true}, false,
			func(t *testing.T, certs, roots int, sn string, skip bool) {
				if certs != 1 || roots != 1 || sn != "kafka.test" || !skip {
					t.Errorf("certs %d roots %d server name %q skip %t", certs, roots, sn, skip)
				}
			}},
		{"missing ca", TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "none.pem")}, true, nil},
		{"ca not pem", TLSConfig{Enabled: true, CAFile: notPEM}, true, nil},
		{"key mismatch", TLSConfig{Enabled: true, CertFile: cert, KeyFile: notPEM}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := franzTLS(tt.give)
			if (err != nil) != tt.wantErr {
				t.Fatalf("franzTLS() error = %v, want error %t", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			roots := -1
			if tc.RootCAs != nil {
				roots = 0
				if tc.RootCAs.Equal(certPool(t, cert)) {
					roots = 1
				}
			}
			tt.check(t, len(tc.Certificates), roots, tc.ServerName, tc.InsecureSkipVerify)
		})
	}
}

func TestFranzSASL(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		give     SASLConfig
		wantName string
		wantErr  bool
	}{
		{SASLConfig{Mechanism: "PLAIN", Username: "u", Password: "p"}, "PLAIN", false},
		{SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}, "SCRAM-SHA-256", false},
		{SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: pwFile}, "SCRAM-SHA-512", false},
		{SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: pwFile + ".missing"}, "", true},
		{SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.give.Mechanism, func(t *testing.T) {
			m, err := franzSASL(tt.give)
			if (err != nil) != tt.wantErr {
				t.Fatalf("franzSASL() error = %v, want error %t", err, tt.wantErr)
			}
			if err == nil && m.Name() != tt.wantName {
				t.Errorf("franzSASL().Name() = %q, want %q", m.Name(), tt.wantName)
			}
		})
	}
	if pw, err := (SASLConfig{PasswordFile: pwFile}).password(); err != nil || pw != "secret" {
		t.Errorf("password() = %q, %v; want secret", pw, err)
	}
}

func TestClassifyFranz(t *testing.T) {
	tests := []struct {
		give error
		want error
	}{
		{kerr.MessageTooLarge, ErrTooLarge},
		{fmt.Errorf("x: %w", kerr.RecordListTooLarge), ErrTooLarge},
		{kgo.ErrRecordTimeout, ErrDeliveryTimed},
		{kerr.UnknownTopicOrPartition, ErrUnknownTopic},
		{kgo.ErrClientClosed, ErrClosed},
		{kerr.SaslAuthenticationFailed, ErrFatal},
	}
	for _, tt := range tests {
		got := classifyFranz(tt.give)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.give) {
			t.Errorf("classifyFranz(%v) = %v, want it to wrap %v and the original", tt.give, got, tt.want)
		}
	}
	if classifyFranz(nil) != nil {
		t.Errorf("classifyFranz(nil) != nil")
	}
	other := errors.New("other")
	if classifyFranz(other) != other {
		t.Errorf("classifyFranz(other) changed it")
	}
}

func TestMemGate(t *testing.T) {
	ctx := context.Background()
	g := newMemGate(100, 3)
	for _, n := range []int64{60, 40} {
		if err := g.acquire(ctx, n); err != nil {
			t.Fatalf("acquire(%d) = %v", n, err)
		}
	}
	// Full by bytes: blocks until the context ends.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.acquire(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a full gate = %v, want DeadlineExceeded", err)
	}
	// A release wakes a waiter.
	got := make(chan error, 1)
	go func() { got <- g.acquire(ctx, 50) }()
	g.release(60)
	if err := <-got; err != nil {
		t.Fatalf("acquire after release = %v", err)
	}
	// Full by count.
	g2 := newMemGate(1000, 1)
	if err := g2.acquire(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := g2.acquire(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire beyond count = %v, want DeadlineExceeded", err)
	}
	// An oversized message fits an empty gate.
	g3 := newMemGate(10, 5)
	if err := g3.acquire(ctx, 50); err != nil {
		t.Fatalf("oversized acquire on empty gate = %v", err)
	}
	// Close wakes waiters with ErrClosed.
	go func() { got <- g3.acquire(ctx, 1) }()
	time.Sleep(10 * time.Millisecond) // let it wait (the result is the same if it has not yet)
	g3.close()
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("acquire on closed gate = %v, want ErrClosed", err)
	}
}

func TestFranzHooksBrokersDown(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := &franzHooks{m: NewMetrics(reg, "unit"), log: buildOptions(nil).log, up: map[int32]bool{}}
	gauge := func() float64 {
		return testutil.ToFloat64(h.m.brokersDown.WithLabelValues("unit"))
	}
	errs := func(kind string) float64 {
		return testutil.ToFloat64(h.m.errors.WithLabelValues("unit", kind))
	}
	b1, b2 := kgo.BrokerMetadata{NodeID: 1, Host: "127.0.0.1", Port: 1}, kgo.BrokerMetadata{NodeID: 2, Host: "127.0.0.1", Port: 2}
	refused := errors.New("connection refused")
	steps := []struct {
		name      string
		do        func()
		wantDown  float64
		wantTrans float64
		wantAll   float64
	}{
		{"both up", func() { h.OnBrokerConnect(b1, 0, nil, nil); h.OnBrokerRead(b2, 0, 10, 0, 0, nil) }, 0, 0, 0},
		{"one down", func() { h.OnBrokerConnect(b1, 0, nil, refused) }, 0, 1, 0},
		{"both down", func() { h.OnBrokerRead(b2, 0, 0, 0, 0, refused) }, 1, 2, 1},
		{"still down", func() { h.OnBrokerConnect(b2, 0, nil, refused) }, 1, 3, 1},
		{"own cancellation is not the broker's fault", func() { h.OnBrokerRead(b1, 0, 0, 0, 0, context.Canceled) }, 1, 3, 1},
		{"one back", func() { h.OnBrokerConnect(b2, 0, nil, nil) }, 0, 3, 1},
	}
	for _, s := range steps {
		s.do()
		if g, tr, all := gauge(), errs("transport"), errs("all_brokers_down"); g != s.wantDown || tr != s.wantTrans || all != s.wantAll {
			t.Errorf("%s: all_brokers_down gauge %v, transport errors %v, all-down events %v; want %v, %v, %v",
				s.name, g, tr, all, s.wantDown, s.wantTrans, s.wantAll)
		}
	}
}

// Commit refuses offsets of a topic deleted or recreated since it was read
// and commits the others. The client here is in no group, so any commit
// that reaches it fails: that error wins over the refusal.
func TestFranzCommitGoneTopic(t *testing.T) {
	old := func(p int32, o int64) Offset { return Offset{TopicPartition{Topic: "old", Partition: p}, o} }
	live := Offset{TopicPartition{Topic: "live", Partition: 0}, 7}
	tests := []struct {
		name        string
		give        []Offset
		wantRefused bool // the error is the refusal, naming the first gone offset
		wantErrs    float64
	}{
		{"only gone", []Offset{old(1, 5), old(0, 3)}, true, 1},
		{"gone and live", []Offset{live, old(1, 5)}, false, 2},
		{"only live", []Offset{live}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := &franzConsumer{cl: franzClient(t, nil), m: NewMetrics(prometheus.NewRegistry(), "unit"), gone: map[string]bool{"old": true}}
			err := fc.Commit(context.Background(), tt.give)
			if err == nil {
				t.Fatalf("Commit(%v) = nil, want an error", tt.give)
			}
			if refused := errors.Is(err, ErrUnknownTopic); refused != tt.wantRefused {
				t.Errorf("Commit(%v) = %v; ErrUnknownTopic %t, want %t", tt.give, err, refused, tt.wantRefused)
			}
			if want := "commit old[1] at 5: "; tt.wantRefused && !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Commit(%v) = %q, want prefix %q", tt.give, err, want)
			}
			if got := testutil.ToFloat64(fc.m.errors.WithLabelValues("unit", "commit")); got != tt.wantErrs {
				t.Errorf("commit errors = %v, want %v", got, tt.wantErrs)
			}
		})
	}
}
