package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The franz backend is franz-go: pure Go, so it builds everywhere,
// including 32-bit ARM with cgo off. franz-go keeps its 64-bit counters
// under mutexes or in sync/atomic's typed values, which the compiler
// aligns on 32-bit platforms (v1.10.4 panicked on armv7 with an unaligned
// atomic.AddInt64; see franz-go issue #286).
const franzBuilt = true

// Settings shared by both backends' clients; see commonConfluent.
const (
	franzMetadataMaxAge = 10 * time.Second // discover new nodeN topics quickly
	// franzFetchMaxWait bounds how long a broker holds an empty fetch.
	// Concurrent fetches are capped to bound memory (see below), so with
	// more brokers than fetch slots an idle broker's fetch holds a slot for
	// this long and delays the others: 500 ms (librdkafka's default) gave
	// the franz forwarder a 200 ms latency tail across 3 brokers.
	franzFetchMaxWait   = 100 * time.Millisecond
	franzMaxConcurrent  = 4 // upper bound of concurrent fetches
	franzDefaultTimeout = 5 * time.Second
)

// franzCommon maps Config onto franz-go client options.
func franzCommon(c Config, o options) ([]kgo.Opt, error) {
	hooks := &franzHooks{m: o.metrics, log: o.log, up: map[int32]bool{}}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.MetadataMaxAge(franzMetadataMaxAge),
		kgo.WithLogger(franzLogger{o.log}),
		kgo.WithHooks(hooks),
		// Quick reconnects when a broker comes back, as reconnect.backoff.*
		// of the confluent backend.
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(100*time.Millisecond<<min(tries, 6), 5*time.Second)
		}),
	}
	if c.TLS.Enabled {
		tc, err := franzTLS(c.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		mech, err := franzSASL(c.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// franzTLS builds the client TLS config: CA bundle, optional client
// certificate, server name override and (for tests only) no verification.
func franzTLS(t TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName, // empty: franz-go uses each broker's host
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca file %s: no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func franzSASL(s SASLConfig) (sasl.Mechanism, error) {
	pw, err := s.password()
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: pw}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: pw}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: pw}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("sasl mechanism %q not supported", s.Mechanism)
	}
}

// franzLogger sends franz-go's warnings and errors to slog (its info and
// debug lines only when the logger is at debug level).
type franzLogger struct{ l *slog.Logger }

func (f franzLogger) Level() kgo.LogLevel {
	if f.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (f franzLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	case kgo.LogLevelInfo:
		lv = slog.LevelInfo
	}
	f.l.Log(context.Background(), lv, "kafka client: "+msg, keyvals...)
}

// franzHooks turn franz-go's broker events into the shared metrics:
// transport errors and the all-brokers-down gauge. A broker counts as down
// from a failed dial or read until a successful dial or read.
type franzHooks struct {
	m   *Metrics
	log *slog.Logger

	mu      sync.Mutex
	up      map[int32]bool
	allDown bool
}

var (
	_ kgo.HookBrokerConnect = (*franzHooks)(nil)
	_ kgo.HookBrokerRead    = (*franzHooks)(nil)
)

func (h *franzHooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.seen(meta, err)
}

func (h *franzHooks) OnBrokerRead(meta kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	h.seen(meta, err)
}

func (h *franzHooks) seen(meta kgo.BrokerMetadata, err error) {
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed)) {
		return // our own cancellation, not the broker's fault
	}
	h.mu.Lock()
	h.up[meta.NodeID] = err == nil
	down := true
	for _, up := range h.up {
		down = down && !up
	}
	changed := down != h.allDown
	h.allDown = down
	h.mu.Unlock()
	if err != nil {
		h.m.error("transport")
		h.log.Debug("kafka broker error", "broker", net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port)), "err", err)
	}
	if changed {
		h.m.allBrokersDown(down)
		if down {
			h.m.error("all_brokers_down")
			h.log.Warn("kafka client: all brokers down", "err", err)
		}
	}
}

// classifyFranz maps franz-go errors onto the package's sentinels, keeping
// the original in the chain.
func classifyFranz(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.InvalidTimestamp):
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries):
		return fmt.Errorf("%w: %w", ErrDeliveryTimed, err)
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return fmt.Errorf("%w: %w", ErrUnknownTopic, err)
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case isFranzAuthz(err):
		return notAuthorized(err)
	// A safeguard: an idempotent, non-transactional franz-go client without
	// StopProducerOnDataLossDetected (ours) bumps its epoch and retries the
	// batch on these sequence errors, so no record fails with them and the
	// client stays usable (sink.go); librdkafka's equivalent is fatal to its
	// client, which the confluent producer replaces (see README).
	case errors.Is(err, kerr.OutOfOrderSequenceNumber), errors.Is(err, kerr.InvalidProducerEpoch),
		errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("%w: %w", ErrFatal, err)
	}
	return err
}

// isFranzAuthz: the broker's ACLs deny the operation.
func isFranzAuthz(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// pingFranz does a metadata round trip asking for no topics.
func pingFranz(ctx context.Context, cl *kgo.Client) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, franzDefaultTimeout)
		defer cancel()
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none (nil means all)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBrokersDown, err)
	}
	if len(resp.Brokers) == 0 {
		return ErrBrokersDown
	}
	return nil
}

func metadataRequest(topics []string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req
}
