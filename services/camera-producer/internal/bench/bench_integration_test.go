//go:build integration

package bench

import (
	"context"
	"fmt"
	"image"
	"strings"
	"testing"

	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// BenchmarkIntegrationFileToAck reports ms/picture from file ready to
// acknowledgement (acks=all, RF 3) per form and size. Each sub-benchmark
// runs the whole service, so ns/op includes its start; ms/picture does not.
//
//	go test -tags integration -run '^$' -bench BenchmarkIntegrationFileToAck -benchtime 20x ./services/camera-producer/internal/bench
func BenchmarkIntegrationFileToAck(b *testing.B) {
	st := devstacktest.Stack(b)
	for _, form := range []string{"json", "binary"} {
		for _, size := range Sizes {
			b.Run(fmt.Sprintf("%s/%dx%d", form, size.X, size.Y), func(b *testing.B) {
				stats, err := Run(context.Background(), Options{Brokers: strings.Split(st.EdgeBootstrap(), ","),
					Topic: "producer-bench-" + form, Form: form, Sizes: []image.Point{size}, N: b.N, Warmup: 2})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(ms(stats[0].Mean), "ms/picture")
				b.ReportMetric(float64(stats[0].Bytes), "jpeg-bytes")
			})
		}
	}
}
