// Command selfcheck exercises the shared libraries on the platform it was
// built for; `make cross` runs it under qemu-user for arm64 and armv7 (and
// natively on amd64), built by the same tools/cross/build.sh as the
// services, so it proves what their binaries link:
//
//   - the Kafka backends built in (bus.Backends()) are the expected ones
//     (-want confluent,franz), and the default one is -default;
//   - on every built backend a producer, a consumer and an admin client
//     can be created and closed, and a publish to an unreachable broker on
//     loopback fails cleanly within its deadline (no panic: franz-go's
//     64-bit atomics once panicked on 32-bit ARM);
//   - the picture and temperature codecs round-trip a synthetic JPEG.
//
// It prints one line per check and exits non-zero on the first failure.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "selfcheck: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("selfcheck: ok")
}

func run(args []string) error {
	fs := flag.NewFlagSet("selfcheck", flag.ContinueOnError)
	want := fs.String("want", "", "comma-separated backends that must be built in, exactly")
	def := fs.String("default", "", "the expected default backend")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Printf("platform %s/%s, backends %v, default %s\n", runtime.GOOS, runtime.GOARCH, bus.Backends(), bus.DefaultBackend())
	if *want != "" {
		w := strings.Split(*want, ",")
		got := bus.Backends()
		slices.Sort(w)
		slices.Sort(got)
		if !slices.Equal(w, got) {
			return fmt.Errorf("backends %v, want %v", got, w)
		}
	}
	if *def != "" && bus.DefaultBackend() != *def {
		return fmt.Errorf("default backend %q, want %q", bus.DefaultBackend(), *def)
	}
	for _, b := range bus.Backends() {
		if err := clients(b); err != nil {
			return fmt.Errorf("backend %s: %w", b, err)
		}
		fmt.Printf("backend %s: producer, consumer, admin ok\n", b)
	}
	if err := codecs(); err != nil {
		return err
	}
	fmt.Println("codecs: picture (binary, json) and temperature round trips ok")
	return nil
}

// unreachable is a loopback port nothing listens on.
const unreachable = "127.0.0.1:1"

func clients(backend string) error {
	cfg := bus.Config{Brokers: []string{unreachable}, ClientID: "selfcheck", Backend: backend}
	p, err := bus.NewProducer(bus.ProducerConfig{Config: cfg, Linger: time.Millisecond,
		MaxMessageBytes: 1 << 20, QueueMaxBytes: 4 << 20, DeliveryTimeout: 3 * time.Second})
	if err != nil {
		return fmt.Errorf("new producer: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, perr := p.Publish(ctx, &bus.Message{Topic: "selfcheck", Key: []byte("k"), Value: []byte("v")})
	if perr == nil {
		return errors.New("publish to an unreachable broker succeeded")
	}
	if err := p.Close(); err != nil && !errors.Is(err, bus.ErrClosed) {
		fmt.Printf("backend %s: producer close: %v (expected without a broker)\n", backend, err)
	}
	c, err := bus.NewConsumer(bus.ConsumerConfig{Config: cfg, GroupID: "selfcheck", Topics: []string{"selfcheck"},
		MaxFetchBytes: 1 << 20, QueueMaxBytes: 4 << 20, SessionTimeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("new consumer: %w", err)
	}
	if m, err := c.Poll(ctx, 200*time.Millisecond); m != nil {
		return fmt.Errorf("poll without a broker returned a message (err %v)", err)
	}
	if err := c.Close(); err != nil {
		fmt.Printf("backend %s: consumer close: %v (expected without a broker)\n", backend, err)
	}
	a, err := bus.NewAdmin(cfg)
	if err != nil {
		return fmt.Errorf("new admin: %w", err)
	}
	return a.Close()
}

func codecs() error {
	jpeg := jpegsynth.Picture(image.Pt(320, 188), 7)
	pic := messages.NewPicture("C1", "node1", time.Date(2016, 5, 1, 12, 0, 0, 0, time.UTC), jpeg)
	for _, form := range []messages.Form{messages.FormBinary, messages.FormJSON} {
		enc, err := messages.EncodePicture(pic, form)
		if err != nil {
			return fmt.Errorf("encode picture: %w", err)
		}
		got, err := messages.DecodePicture(enc.Value, enc.Headers, 1<<20)
		if err != nil {
			return fmt.Errorf("decode picture: %w", err)
		}
		if !bytes.Equal(got.Data, jpeg) || got.CameraID != "C1" || string(enc.Key) != pic.Key() {
			return errors.New("picture round trip changed the picture")
		}
	}
	tr := messages.TemperatureReading{NodeID: "node1", ReadAt: time.Unix(1462104000, 0).UTC(), TemperatureCelsius: 48.3, Source: "sysfs"}
	enc, err := messages.EncodeTemperature(tr, messages.FormBinary)
	if err != nil {
		return fmt.Errorf("encode temperature: %w", err)
	}
	got, err := messages.DecodeTemperature(enc.Value, enc.Headers)
	if err != nil {
		return fmt.Errorf("decode temperature: %w", err)
	}
	if got.TemperatureCelsius != 48.3 || got.NodeID != "node1" {
		return fmt.Errorf("temperature round trip: %+v", got)
	}
	return nil
}
