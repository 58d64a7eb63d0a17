//go:build integration

package fwdbench

import (
	"context"
	"fmt"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/services/edge-forwarder/internal/forwarder"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// BenchmarkIntegrationForwarderPerPicture measures the per-picture time of
// the thesis's Table 5.2 (edge consumer hand-over to cloud acknowledgement,
// one picture at a time) at the three sizes; ms/picture is the mean.
//
//	go test -tags integration -run '^$' -bench BenchmarkIntegrationForwarderPerPicture -benchtime 30x ./services/edge-forwarder/internal/fwdbench
func BenchmarkIntegrationForwarderPerPicture(b *testing.B) {
	st := devstacktest.Stack(b)
	for _, form := range []string{forwarder.FormPassThrough, forwarder.FormJSON} {
		for _, size := range Sizes {
			b.Run(fmt.Sprintf("%s/%dx%d", form, size.X, size.Y), func(b *testing.B) {
				edgeTopic := devstacktest.UniqueTopic(b, "bench-node1")
				cloudTopic := devstacktest.UniqueTopic(b, "bench-cameraData")
				devstacktest.CreateTopic(b, st.EdgeBootstrap(), edgeTopic, 1, 3)
				devstacktest.CreateTopic(b, st.CloudBootstrap(), cloudTopic, 1, 1)
				setup := Setup{
					Edge:      bus.Config{Brokers: strings.Split(st.EdgeBootstrap(), ","), ClientID: "bench"},
					Cloud:     bus.Config{Brokers: []string{st.CloudBootstrap()}, ClientID: "bench"},
					EdgeTopic: edgeTopic, CloudTopic: cloudTopic, Form: form,
				}
				b.ResetTimer()
				res, err := Run(context.Background(), setup, []image.Point{size}, b.N, 3)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(res[0].Mean())/float64(time.Millisecond), "ms/picture")
				b.ReportMetric(float64(res[0].Bytes), "bytes/picture")
			})
		}
	}
}
