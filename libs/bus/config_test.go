package bus

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestConfigFromEnv(t *testing.T) {
	type wrapper = envWrapper
	tests := []struct {
		name string
		env  map[string]string
		want func(w wrapper) []string // problems
	}{
		{
			name: "defaults",
			env:  map[string]string{"SENSORNODE_CLOUD_KAFKA_GROUP_ID": "g", "SENSORNODE_CLOUD_KAFKA_TOPICS": "a"},
			want: func(w wrapper) []string {
				var p []string
				if w.Edge.Backend != "" || !slices.Equal(w.Edge.Brokers, []string{"127.0.0.1:9092"}) {
					p = append(p, "edge defaults")
				}
				if w.Edge.Linger != 5*time.Millisecond || w.Edge.MaxMessageBytes != 8<<20 || w.Edge.QueueMaxBytes != 16<<20 ||
					w.Edge.QueueMaxMessages != 10000 || w.Edge.DeliveryTimeout != 2*time.Minute {
					p = append(p, "producer knob defaults")
				}
				if w.Cloud.MaxFetchBytes != 4<<20 || w.Cloud.QueueMaxBytes != 4<<20 || w.Cloud.SessionTimeout != 10*time.Second || w.Cloud.FromLatest {
					p = append(p, "consumer knob defaults")
				}
				return p
			},
		},
		{
			name: "franz backend, TLS and SASL",
			env: map[string]string{
				"SENSORNODE_EDGE_KAFKA_BACKEND":                   "franz",
				"SENSORNODE_EDGE_KAFKA_BROKERS":                   "127.0.0.1:1,127.0.0.1:2",
				"SENSORNODE_EDGE_KAFKA_DELIVERY_TIMEOUT":          "0s",
				"SENSORNODE_EDGE_KAFKA_QUEUE_MAX_BYTES":           "20000000",
				"SENSORNODE_EDGE_KAFKA_QUEUE_MAX_MESSAGES":        "2000",
				"SENSORNODE_CLOUD_KAFKA_BACKEND":                  "confluent",
				"SENSORNODE_CLOUD_KAFKA_GROUP_ID":                 "ingest",
				"SENSORNODE_CLOUD_KAFKA_TOPICS":                   "cameraData,^node[0-9]+$",
				"SENSORNODE_CLOUD_KAFKA_TLS_ENABLED":              "true",
				"SENSORNODE_CLOUD_KAFKA_TLS_CA_FILE":              "/ca.pem",
				"SENSORNODE_CLOUD_KAFKA_TLS_SERVER_NAME":          "kafka.example",
				"SENSORNODE_CLOUD_KAFKA_TLS_INSECURE_SKIP_VERIFY": "true",
				"SENSORNODE_CLOUD_KAFKA_SASL_MECHANISM":           "SCRAM-SHA-512",
				"SENSORNODE_CLOUD_KAFKA_SASL_USERNAME":            "u",
				"SENSORNODE_CLOUD_KAFKA_SASL_PASSWORD_FILE":       "/pw",
				"SENSORNODE_CLOUD_KAFKA_FROM_LATEST":              "true",
				"SENSORNODE_CLOUD_KAFKA_STATS_INTERVAL":           "500ms",
			},
			want: func(w wrapper) []string {
				var p []string
				if w.Edge.Backend != BackendFranz || !slices.Equal(w.Edge.Brokers, []string{"127.0.0.1:1", "127.0.0.1:2"}) ||
					w.Edge.DeliveryTimeout != 0 || w.Edge.QueueMaxBytes != 20000000 || w.Edge.QueueMaxMessages != 2000 {
					p = append(p, "edge")
				}
				c := w.Cloud
				if c.Backend != BackendConfluent || c.GroupID != "ingest" || !slices.Equal(c.Topics, []string{"cameraData", "^node[0-9]+$"}) || !c.FromLatest ||
					c.StatsInterval != 500*time.Millisecond {
					p = append(p, "cloud")
				}
				if !c.TLS.Enabled || c.TLS.CAFile != "/ca.pem" || c.TLS.ServerName != "kafka.example" || !c.TLS.InsecureSkipVerify {
					p = append(p, "tls")
				}
				if c.SASL.Mechanism != "SCRAM-SHA-512" || c.SASL.Username != "u" || c.SASL.PasswordFile != "/pw" {
					p = append(p, "sasl")
				}
				return p
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svctest.Setenv(t, tt.env)
			w := wrapper{Edge: DefaultProducerConfig()} // as a service's DefaultConfig does
			if err := svc.LoadConfig(&w); err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if p := tt.want(w); len(p) > 0 {
				t.Errorf("config %+v: wrong %s", w, strings.Join(p, ", "))
			}
		})
	}
}

// envWrapper embeds client configs as a service config does.
type envWrapper struct {
	Edge  ProducerConfig `envconfig:"EDGE_KAFKA"`
	Cloud ConsumerConfig `envconfig:"CLOUD_KAFKA"`
}

func (w *envWrapper) Validate() error {
	if err := w.Edge.Validate(); err != nil {
		return err
	}
	return w.Cloud.Validate()
}

func TestValidate(t *testing.T) {
	okc := Config{Brokers: []string{"127.0.0.1:9092"}}
	okp := ProducerConfig{Config: okc, MaxMessageBytes: 1 << 20, QueueMaxBytes: 2 << 20}
	okcc := ConsumerConfig{Config: okc, GroupID: "g", Topics: []string{"t"}, MaxFetchBytes: 1 << 20, QueueMaxBytes: 1 << 20}
	tests := []struct {
		name    string
		give    interface{ Validate() error }
		wantErr string // "" = valid
	}{
		{"ok config", okc, ""},
		{"no brokers", Config{}, "no brokers"},
		{"broker without port", Config{Brokers: []string{"kafka"}}, "not host:port"},
		{"franz backend", Config{Brokers: okc.Brokers, Backend: BackendFranz}, ""},
		{"confluent backend", Config{Brokers: okc.Brokers, Backend: BackendConfluent}, ""},
		{"unknown backend", Config{Brokers: okc.Brokers, Backend: "sarama"}, "backend"},
		{"sasl without user", Config{Brokers: okc.Brokers, SASL: SASLConfig{Mechanism: "PLAIN", Password: "p"}}, "username"},
		{"sasl without password", Config{Brokers: okc.Brokers, SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u"}}, "password"},
		{"sasl password file", Config{Brokers: okc.Brokers, SASL: SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: "/f"}}, ""},
		{"sasl unknown", Config{Brokers: okc.Brokers, SASL: SASLConfig{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, "mechanism"},
		{"cert without key", Config{Brokers: okc.Brokers, TLS: TLSConfig{CertFile: "c"}}, "together"},
		{"stats interval", Config{Brokers: okc.Brokers, StatsInterval: time.Second}, ""},
		{"negative stats interval", Config{Brokers: okc.Brokers, StatsInterval: -time.Second}, "stats interval"},
		{"ok producer", okp, ""},
		{"producer tiny max", func() ProducerConfig { p := okp; p.MaxMessageBytes = 10; return p }(), "max message bytes"},
		{"producer queue <= max", func() ProducerConfig { p := okp; p.QueueMaxBytes = p.MaxMessageBytes; return p }(), "must exceed"},
		{"producer negative queue messages", func() ProducerConfig { p := okp; p.QueueMaxMessages = -1; return p }(), "queue max messages"},
		{"producer huge queue messages", func() ProducerConfig {
			p := okp
			huge := int64(1) << 31 // a variable: the constant does not fit armv7's int (there it wraps negative, refused too)
			p.QueueMaxMessages = int(huge)
			return p
		}(), "queue max messages"},
		{"producer negative linger", func() ProducerConfig { p := okp; p.Linger = -1; return p }(), "negative"},
		{"ok consumer", okcc, ""},
		{"consumer no group", func() ConsumerConfig { c := okcc; c.GroupID = ""; return c }(), "group"},
		{"consumer no topics", func() ConsumerConfig { c := okcc; c.Topics = nil; return c }(), "topics"},
		{"consumer queue < fetch", func() ConsumerConfig { c := okcc; c.QueueMaxBytes = c.MaxFetchBytes - 1; return c }(), "fetch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.give.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBackends(t *testing.T) {
	got := Backends()
	if !slices.Contains(got, BackendFranz) {
		t.Errorf("Backends() = %v, want franz built in everywhere", got)
	}
	cgoArch := runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64"
	want := BackendFranz
	if confluentBuilt {
		want = BackendConfluent
		if !cgoArch {
			t.Errorf("confluent built on %s", runtime.GOARCH)
		}
	}
	if runtime.GOARCH == "arm" && confluentBuilt {
		t.Errorf("confluent backend built on 32-bit ARM")
	}
	if d := DefaultBackend(); d != want {
		t.Errorf("DefaultBackend() = %q, want %q (Backends %v)", d, want, got)
	}
	if slices.Contains(got, BackendConfluent) != confluentBuilt {
		t.Errorf("Backends() = %v, confluentBuilt = %t", got, confluentBuilt)
	}
}

func TestConstructorErrors(t *testing.T) {
	base := Config{Brokers: []string{"127.0.0.1:1"}}
	if !confluentBuilt {
		base.Backend = BackendConfluent
		_, err := NewProducer(ProducerConfig{Config: base, MaxMessageBytes: 1 << 20, QueueMaxBytes: 2 << 20})
		if !errors.Is(err, ErrNoBackend) {
			t.Errorf("NewProducer(confluent) without it built = %v, want ErrNoBackend", err)
		}
	}
	bad := base
	bad.Backend = "nope"
	if _, err := NewAdmin(bad); err == nil {
		t.Errorf("NewAdmin(backend nope) = nil error")
	}
	for _, b := range Backends() {
		c := base
		c.Backend = b
		c.TLS = TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}
		if _, err := NewAdmin(c); err == nil {
			t.Errorf("%s: NewAdmin with a missing CA file = nil error", b)
		}
	}
}
