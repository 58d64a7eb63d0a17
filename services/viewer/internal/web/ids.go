package web

import (
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/messages"
)

// Request parts are checked here before anything reaches the store: a
// value that fails is answered 404 (400 for a bad query) and never looked
// up.

// checkID reports whether id is a path-safe camera or node id.
func checkID(id string) bool { return messages.CheckID("id", id) == nil }

// maxKeyLen bounds a picture key: a maximal id, '-', the legacy time
// (20 bytes), '-', 16 hex digits.
const maxKeyLen = messages.MaxIDLen + 1 + 20 + 1 + 16

// checkKey reports whether key is a picture key of camera: it parses, its
// camera is camera, and it has only id characters.
func checkKey(camera, key string) bool {
	if !checkID(camera) || len(key) > maxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	cam, _, err := messages.ParsePictureKey(key)
	return err == nil && cam == camera
}

// keyOfFile is the key of "<key>.jpg", "" when file is not that.
func keyOfFile(camera, file string) string {
	key, ok := strings.CutSuffix(file, ".jpg")
	if !ok || !checkKey(camera, key) {
		return ""
	}
	return key
}

// parseDay parses YYYY-MM-DD (UTC midnight).
func parseDay(s string) (time.Time, bool) {
	if len(s) != len("2006-01-02") {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02", s)
	return t, err == nil && t.Format("2006-01-02") == s
}

// parseHour parses HH (00 to 23).
func parseHour(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '2' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	return h, h < 24
}

// rangeLayouts are what from and to may be: RFC 3339, or what an
// <input type="datetime-local"> sends (taken as UTC).
var rangeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04"}

func parseRangeTime(s string) (time.Time, bool) {
	if len(s) > 40 {
		return time.Time{}, false
	}
	for _, l := range rangeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
