package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/loadtest/pipeline"
)

// librdkafkaConfig renders a client config for librdkafka (topic deletion
// is not part of libs/bus's small Admin interface).
func librdkafkaConfig(c bus.Config) (*kafka.ConfigMap, error) {
	m := kafka.ConfigMap{"bootstrap.servers": strings.Join(c.Brokers, ","), "security.protocol": pipeline.SecurityProtocol(c)}
	if c.TLS.CAFile != "" {
		m["ssl.ca.location"] = c.TLS.CAFile
	}
	if c.TLS.CertFile != "" {
		m["ssl.certificate.location"], m["ssl.key.location"] = c.TLS.CertFile, c.TLS.KeyFile
	}
	if c.TLS.InsecureSkipVerify {
		m["enable.ssl.certificate.verification"] = false
	}
	if c.SASL.Mechanism != "" {
		pw, err := pipeline.SASLPassword(c)
		if err != nil {
			return nil, err
		}
		m["sasl.mechanisms"], m["sasl.username"], m["sasl.password"] = c.SASL.Mechanism, c.SASL.Username, pw
	}
	return &m, nil
}

// deleteTopics deletes every topic of the cluster whose name passes match
// and returns how many it deleted.
func deleteTopics(ctx context.Context, c bus.Config, match func(string) bool) (int, error) {
	cm, err := librdkafkaConfig(c)
	if err != nil {
		return 0, err
	}
	a, err := kafka.NewAdminClient(cm)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	md, err := a.GetMetadata(nil, true, 15000)
	if err != nil {
		return 0, err
	}
	var names []string
	for name := range md.Topics {
		if match(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return 0, nil
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := a.DeleteTopics(dctx, names)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			errs = append(errs, fmt.Errorf("%s: %v", r.Topic, r.Error))
		}
	}
	return len(names) - len(errs), errors.Join(errs...)
}

// cleanup deletes what the run left on the cluster: its topics (including
// MirrorMaker 2's copies and internal topics) and its HDFS directory.
func (h *Harness) cleanup(ctx context.Context) {
	prefix := "lt-" + h.runID + "-"
	match := func(t string) bool {
		return strings.HasPrefix(t, prefix) || strings.HasPrefix(t, mirrorAlias+"."+prefix)
	}
	for _, c := range []struct {
		name string
		cfg  bus.Config
	}{{"edge", h.cfg.Cluster.Edge}, {"cloud", h.cfg.Cluster.Cloud}} {
		n, err := deleteTopics(ctx, c.cfg, match)
		if err != nil {
			h.note("deleting the run's %s topics: %v", c.name, err)
		}
		h.progress("deleted %d %s topics of this run", n, c.name)
	}
	if h.hdfs != nil {
		dir := "/loadtest/" + h.runID
		if err := h.hdfs.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			h.note("deleting %s from HDFS: %v", dir, err)
		} else {
			h.progress("deleted %s from HDFS", dir)
		}
	}
	if err := os.RemoveAll(h.workRunDir()); err != nil {
		h.note("deleting %s: %v", h.workRunDir(), err)
	}
}
