package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bus"
)

// Recovering a bundle partition from HDFS after an assignment: its
// highest committed offset and the keys of its newest bundles (the key
// index that drops duplicates arriving at new offsets).

// bundlePart returns tp's state, recovering it from HDFS first if needed:
// the highest last offset of its committed bundles (records up to it are
// skipped, so no two committed bundles overlap after a crash between a
// rename and its commit), and the keys of its newest bundles.
func (in *Ingester) bundlePart(tp bus.TopicPartition) (*bundlePart, error) {
	bp := in.bundles[tp]
	if bp == nil {
		bp = &bundlePart{high: -1}
		in.bundles[tp] = bp
	}
	if bp.recovered {
		return bp, nil
	}
	// The fence comes first: recovery lists what was committed before
	// the former owners' directories were removed, and nothing of theirs
	// can be committed after.
	if _, err := in.takeOver(tp, &in.part(tp).tk); err != nil {
		return nil, err
	}
	bp.listed = ""
	high, found, err := in.recoverBundles(tp)
	if err != nil {
		in.m.hdfsErrors.WithLabelValues("read").Inc()
		return nil, fmt.Errorf("%w: recover %s from its bundles: %v", errHDFS, tp, err)
	}
	bp.high, bp.recovered = high, true
	bp.keys = newKeyIndex(in.cfg.PictureBundleIndexKeys)
	for _, x := range found {
		bp.keys.add(x.Keys())
	}
	in.log.Info("bundle store: partition recovered from HDFS", "partition", tp.String(), "committed_up_to", high,
		"bundles_indexed", len(bp.keys.bundles), "keys_indexed", bp.keys.n)
	return bp, nil
}

// recoverSlackHours is how many hour directories recovery lists (names
// only) past the one where the key index filled up: bundles go by their
// writer's clock, so a newer bundle of a member whose clock was behind
// may sit in an older hour.
const recoverSlackHours = 24

// recoverBundles lists tp's committed bundles, newest hour first, until
// the indexes read hold PictureBundleIndexKeys keys (the hour where that
// happens is read whole), and the names of recoverSlackHours hours more:
// the highest last offset among them (-1 none) and the indexes read,
// oldest first.
func (in *Ingester) recoverBundles(tp bus.TopicPartition) (int64, []bundle.Index, error) {
	high := int64(-1)
	var found []bundle.Index
	keys, slack := 0, -1
	visit := func(dir string) (bool, error) {
		fis, err := in.fs.ReadDir(dir)
		if err != nil {
			return false, err
		}
		if slack >= 0 {
			slack++
		}
		for _, fi := range fis {
			s, ok := bundle.ParseName(fi.Name())
			if !ok || s.Topic != tp.Topic || s.Partition != tp.Partition {
				continue
			}
			high = max(high, s.Last)
			if slack >= 0 {
				continue // names only
			}
			name := dir + "/" + bundle.IndexName(fi.Name())
			b, err := in.fs.ReadFile(name)
			if errors.Is(err, os.ErrNotExist) {
				in.m.bundleNoIndex.Inc()
				in.log.Warn("committed bundle without its index: its keys are outside the duplicate key index", "path", dir+"/"+fi.Name())
				continue
			}
			if err != nil {
				return false, err
			}
			x, err := bundle.ParseIndex(bytes.NewReader(b))
			if err != nil {
				in.m.bundleNoIndex.Inc()
				in.log.Warn("bundle index does not parse: its keys are outside the duplicate key index", "path", name, "err", err)
				continue
			}
			found = append(found, x)
			keys += len(x.Entries)
		}
		if slack < 0 && keys >= in.cfg.PictureBundleIndexKeys {
			slack = 0
		}
		return slack >= recoverSlackHours, nil
	}
	if _, err := in.walkNewest(in.partitionDir(tp), 4, visit); err != nil {
		return 0, nil, err
	}
	found = slices.DeleteFunc(found, func(x bundle.Index) bool { return len(x.Entries) == 0 })
	sort.Slice(found, func(i, j int) bool { return found[i].Entries[0].Offset < found[j].Entries[0].Offset })
	return high, found, nil
}

// walkNewest visits the directories depth levels below dir, newest name
// first, until visit says stop.
func (in *Ingester) walkNewest(dir string, depth int, visit func(dir string) (bool, error)) (bool, error) {
	if depth == 0 {
		return visit(dir)
	}
	fis, err := in.fs.ReadDir(dir)
	if err != nil {
		return false, err
	}
	var subs []string
	for _, fi := range fis {
		if fi.IsDir() {
			subs = append(subs, fi.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(subs)))
	for _, s := range subs {
		if stop, err := in.walkNewest(dir+"/"+s, depth-1, visit); err != nil || stop {
			return stop, err
		}
	}
	return false, nil
}

// keyIndex holds the keys of a partition's newest committed bundles, at
// most max keys (whole bundles are evicted, oldest first; the newest
// bundle stays even if it alone holds more).
type keyIndex struct {
	max     int
	n       int
	set     map[string]struct{}
	bundles [][]string // oldest first
}

func newKeyIndex(max int) *keyIndex { return &keyIndex{max: max, set: map[string]struct{}{}} }

func (x *keyIndex) has(key string) bool {
	_, ok := x.set[key]
	return ok
}

// add indexes the keys of a bundle newer than those indexed.
func (x *keyIndex) add(keys []string) {
	x.bundles = append(x.bundles, keys)
	x.n += len(keys)
	for _, k := range keys {
		x.set[k] = struct{}{}
	}
	for x.n > x.max && len(x.bundles) > 1 {
		for _, k := range x.bundles[0] {
			delete(x.set, k)
		}
		x.n -= len(x.bundles[0])
		x.bundles = x.bundles[1:]
	}
}
