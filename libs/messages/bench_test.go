package messages

import (
	"fmt"
	"image"
	"testing"
	"time"

	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
)

var benchSizes = []image.Point{jpegsynth.Size320x188, jpegsynth.Size640x480, jpegsynth.Size1280x720}

func benchPictures() map[image.Point]Picture {
	out := map[image.Point]Picture{}
	for _, s := range benchSizes {
		out[s] = NewPicture("C1", "node1", time.Date(2016, 5, 17, 14, 3, 9, 0, time.UTC), jpegsynth.Picture(s, 1))
	}
	return out
}

// BenchmarkEncodePicture includes the SHA-256 of the picture, as a producer
// pays it once per picture (NewPicture) before encoding.
func BenchmarkEncodePicture(b *testing.B) {
	pics := benchPictures()
	for _, s := range benchSizes {
		for _, form := range []Form{FormBinary, FormJSON} {
			p := pics[s]
			b.Run(fmt.Sprintf("%dx%d/%v", s.X, s.Y, form), func(b *testing.B) {
				b.SetBytes(int64(len(p.Data)))
				b.ReportAllocs()
				for b.Loop() {
					q := NewPicture(p.CameraID, p.NodeID, p.CapturedAt, p.Data)
					if _, err := EncodePicture(q, form); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecodePicture includes validation and checksum verification.
func BenchmarkDecodePicture(b *testing.B) {
	pics := benchPictures()
	for _, s := range benchSizes {
		for _, form := range []Form{FormBinary, FormJSON} {
			enc, err := EncodePicture(pics[s], form)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dx%d/%v", s.X, s.Y, form), func(b *testing.B) {
				b.SetBytes(int64(len(pics[s].Data)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := DecodePicture(enc.Value, enc.Headers, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkTemperature(b *testing.B) {
	r := TemperatureReading{NodeID: "node1", ReadAt: time.Now(), TemperatureCelsius: 48.3, Source: "sysfs"}
	for _, form := range []Form{FormBinary, FormJSON} {
		b.Run(form.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				enc, err := EncodeTemperature(r, form)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := DecodeTemperature(enc.Value, enc.Headers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
