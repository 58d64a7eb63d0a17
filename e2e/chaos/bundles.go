package chaos

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/sensornode/sensornode/libs/bundle"
)

// Bundle is a committed bundle of the bundle picture store
// (cloud-ingest-hdfs SENSORNODE_PICTURE_STORE=avro) as read back: its
// path, its place in its partition (from its name) and the picture keys
// of its index, in offset order.
type Bundle struct {
	Path string
	Span bundle.Span
	Keys []string
}

// CheckBundles holds the committed bundles to the store's exactly-once
// promises: no picture key in two committed bundles (nor twice in one),
// and no two committed bundles of a partition that overlap in offsets. It
// names each broken promise; none means the bundles keep them.
func CheckBundles(bs []Bundle) []string {
	var out []string
	where := map[string][]string{} // key -> bundle paths holding it, once per entry
	for _, b := range bs {
		for _, k := range b.Keys {
			where[k] = append(where[k], b.Path)
		}
	}
	for _, k := range sortedKeys(where) {
		if ps := where[k]; len(ps) > 1 {
			slices.Sort(ps)
			out = append(out, fmt.Sprintf("key %s in %d committed bundle entries: %s", k, len(ps), strings.Join(ps, ", ")))
		}
	}
	sorted := slices.Clone(bs)
	slices.SortFunc(sorted, func(a, b Bundle) int {
		return cmp.Or(strings.Compare(a.Span.Topic, b.Span.Topic), cmp.Compare(a.Span.Partition, b.Span.Partition),
			cmp.Compare(a.Span.First, b.Span.First), strings.Compare(a.Path, b.Path))
	})
	// Sorted by first offset, a bundle that overlaps any earlier one of its
	// partition overlaps the earlier one reaching furthest (far).
	far := 0
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[far], sorted[i]
		if a.Span.Topic != b.Span.Topic || a.Span.Partition != b.Span.Partition {
			far = i
			continue
		}
		if a.Span.Overlaps(b.Span) {
			out = append(out, fmt.Sprintf("committed bundles of %s/%d overlap: %s (offsets %d..%d) and %s (offsets %d..%d)",
				a.Span.Topic, a.Span.Partition, a.Path, a.Span.First, a.Span.Last, b.Path, b.Span.First, b.Span.Last))
		}
		if b.Span.Last > a.Span.Last {
			far = i
		}
	}
	return out
}
