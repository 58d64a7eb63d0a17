package forwarder

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestCloudTopicSpecs(t *testing.T) {
	tests := []struct {
		name      string
		pic, temp string
		want      []string
	}{
		{name: "defaults", pic: "cameraData", temp: "temperatureData",
			want: []string{"cameraData", "cameraData-dlq", "temperatureData", "temperatureData-dlq"}},
		{name: "one cloud topic for both", pic: "all", temp: "all", want: []string{"all", "all-dlq"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			c.CloudPictureTopic, c.CloudTemperatureTopic = tt.pic, tt.temp
			c.CreateTopics, c.TopicPartitions, c.TopicReplicationFactor, c.TopicMinInsyncReplicas = true, 4, 3, 2
			c.Cloud.MaxMessageBytes = 8 << 20
			specs := c.CloudTopicSpecs()
			var got []string
			for _, s := range specs {
				got = append(got, s.Name)
				if s.Partitions != 4 || s.ReplicationFactor != 3 {
					t.Errorf("%s: partitions %d, RF %d, want 4 and 3", s.Name, s.Partitions, s.ReplicationFactor)
				}
				if s.Config["min.insync.replicas"] != "2" {
					t.Errorf("%s: min.insync.replicas = %q, want 2", s.Name, s.Config["min.insync.replicas"])
				}
				// The producer accepts records of up to 8 MiB (key, value and
				// headers); the topic must take one such record with its
				// batch framing.
				if got, want := s.Config["max.message.bytes"], "8454144"; got != want {
					t.Errorf("%s: max.message.bytes = %q, want %q (8 MiB + 64 KiB)", s.Name, got, want)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("topics = %v, want %v", got, tt.want)
			}
		})
	}
}

// The environment shape: shared blocks under their common names, the
// defaults of DefaultConfig, and the names renamed for one vocabulary
// across the services still read for one release.
func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c *Config) string
	}{
		{"defaults", nil, func(c *Config) string {
			if c.AdminAddr != ":9103" || c.LogLevel != "info" || c.ShutdownTimeout != 20*time.Second || c.Form != FormPassThrough ||
				c.RetryMaxInterval != 30*time.Second || c.CreateTopics || c.TopicReplicationFactor != 3 || c.Edge.GroupID != "edge-forwarder" {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{"new names", map[string]string{"SENSORNODE_FORM": "json", "SENSORNODE_RETRY_MAX_INTERVAL": "7s"}, func(c *Config) string {
			if c.Form != FormJSON || c.RetryMaxInterval != 7*time.Second {
				return fmt.Sprintf("form %q, retry max %v", c.Form, c.RetryMaxInterval)
			}
			return ""
		}},
		{"deprecated names", map[string]string{"SENSORNODE_FORWARD_FORM": "binary", "SENSORNODE_RETRY_BACKOFF_MAX": "9s"}, func(c *Config) string {
			if c.Form != FormBinary || c.RetryMaxInterval != 9*time.Second {
				return fmt.Sprintf("form %q, retry max %v; want binary and 9s from the old names", c.Form, c.RetryMaxInterval)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SENSORNODE_EDGE_KAFKA_BROKERS", "127.0.0.1:1")
			t.Setenv("SENSORNODE_CLOUD_KAFKA_BROKERS", "127.0.0.1:2")
			svctest.Setenv(t, tt.env)
			c := DefaultConfig()
			if err := svc.LoadConfig(&c); err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(&c); msg != "" {
				t.Error(msg)
			}
		})
	}
}
