package forwarder

import (
	"strings"
	"testing"
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
