package ingest

import (
	"fmt"
	"time"

	"github.com/sensornode/sensornode/libs/archive"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// pictureKeys returns the picture's key (messages.Picture.Key: camera,
// capture second, hash; the same in both forms) and the legacy keys it may
// have been stored under before issue 11 (milliseconds in the key): the one
// computed from its capture time (exact for the binary form, ".000" for
// JSON), and the record's Kafka key when that is a well-formed legacy key
// of this very picture (same camera, second and hash), e.g. a binary
// picture transcoded to JSON by the forwarder with its key kept.
func pictureKeys(recordKey []byte, p messages.Picture) (key string, legacy []string) {
	key = p.Key()
	legacy = []string{messages.LegacyPictureKey(p.CameraID, p.CapturedAt.Truncate(time.Millisecond), p.SHA256)}
	k := string(recordKey)
	if k == legacy[0] || !messages.IsLegacyPictureKey(k) {
		return key, legacy
	}
	cam, at, _ := messages.ParsePictureKey(k)
	h, _ := messages.PictureKeyHash(k)
	want, _ := messages.PictureKeyHash(key)
	if cam == p.CameraID && at.Truncate(time.Second).Equal(p.CapturedAt.Truncate(time.Second)) && h == want {
		legacy = append(legacy, k)
	}
	return key, legacy
}

// storedLegacy reports whether the picture is already stored under one of
// its legacy keys (the migration rule of issue 11: a picture stored before
// the upgrade is not stored again under its new key).
func (in *Ingester) storedLegacy(p messages.Picture, legacy []string) (bool, error) {
	for _, k := range legacy {
		_, at, _ := messages.ParsePictureKey(k)
		name, err := in.pictures.RenderPath(archive.Vars{Camera: p.CameraID, Node: p.NodeID, Key: k, T: at})
		if err != nil {
			return false, err
		}
		_, exists, err := in.fs.Stat(name)
		if err != nil {
			in.m.hdfsErrors.WithLabelValues("stat").Inc()
			return false, fmt.Errorf("%w: stat %s: %v", errHDFS, name, err)
		}
		if exists {
			return true, nil
		}
	}
	return false, nil
}

func (in *Ingester) storePicture(msg *bus.Message, p messages.Picture) error {
	key, legacy := pictureKeys(msg.Key, p)
	cam, at, _ := messages.ParsePictureKey(key)
	final, err := in.pictures.RenderPath(archive.Vars{Camera: cam, Node: p.NodeID, Key: key, T: at})
	if err != nil {
		return err
	}
	size, exists, err := in.fs.Stat(final)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("stat").Inc()
		return fmt.Errorf("%w: stat %s: %v", errHDFS, final, err)
	}
	if !exists {
		if exists, err = in.storedLegacy(p, legacy); err != nil {
			return err
		}
		size = int64(len(p.Data)) // a legacy file is checked by name only
	}
	if exists {
		// A redelivery, or the same picture forwarded twice: the file is
		// complete (it appeared by rename), so there is nothing to do.
		if size != int64(len(p.Data)) {
			in.m.conflicts.Inc()
			in.log.Warn("picture file exists with another size; kept as it is", "path", final, "size", size, "new_size", len(p.Data))
		}
		in.m.messages.WithLabelValues(kindPicture, resultDuplicate).Inc()
		return nil
	}
	start := in.now()
	if err := in.fs.WriteAtomic(in.tmpName(msg.TopicPartition(), msg.Offset), final, p.Data, in.workDeadline()); err != nil {
		in.writeFailed(msg.TopicPartition(), final, err)
		return fmt.Errorf("%w: write %s: %v", errHDFS, final, err)
	}
	in.m.writeLatency.WithLabelValues(kindPicture).Observe(in.now().Sub(start).Seconds())
	in.m.files.WithLabelValues(kindPicture).Inc()
	in.m.bytes.WithLabelValues(kindPicture).Add(float64(len(p.Data)))
	in.m.stored(kindPicture, p.NodeID, 1)
	in.probe.Set(condHDFS, nil)
	return nil
}
