package chaos

import (
	"path"

	"github.com/sensornode/sensornode/libs/bundle"
)

// DropOneReading removes one stored reading from o (the first identity in
// sorted order), the planted defect of the checker's self-test. It reports
// which one, or "" if there was none.
func DropOneReading(o *Observed) string {
	ids := sortedKeys(o.Readings)
	if len(ids) == 0 {
		return ""
	}
	if o.Readings[ids[0]]--; o.Readings[ids[0]] == 0 {
		delete(o.Readings, ids[0])
	}
	return ids[0]
}

// DuplicateOneBundleKey commits the first key of the first bundle in o
// once more, in a new bundle after the newest of its partition (as a
// picture forwarded again at new offsets and stored again would be), the
// planted defect of the bundle verifier. It reports the key, or "" if o
// holds no bundle with a key.
func DuplicateOneBundleKey(o *Observed) string {
	if len(o.Bundles) == 0 || len(o.Bundles[0].Keys) == 0 {
		return ""
	}
	first := o.Bundles[0]
	key := first.Keys[0]
	last := first.Span.Last
	for _, b := range o.Bundles {
		if b.Span.Topic == first.Span.Topic && b.Span.Partition == first.Span.Partition {
			last = max(last, b.Span.Last)
		}
	}
	s := bundle.Span{Topic: first.Span.Topic, Partition: first.Span.Partition, First: last + 1, Last: last + 1}
	o.Bundles = append(o.Bundles, Bundle{Path: path.Join(path.Dir(first.Path), bundle.Name(s.Topic, s.Partition, s.First, s.Last)), Span: s, Keys: []string{key}})
	return key
}
