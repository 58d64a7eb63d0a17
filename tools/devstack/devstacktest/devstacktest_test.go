package devstacktest

import (
	"regexp"
	"strings"
	"testing"
)

var validTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func TestUniqueNames(t *testing.T) {
	tests := []struct{ name, prefix string }{
		{"plain", "frames"},
		{"with spaces and/slashes", "x"},
		{"no prefix", ""},
		{strings.Repeat("long", 80), "p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := UniqueTopic(t, tt.prefix), UniqueTopic(t, tt.prefix)
			if a == b {
				t.Errorf("UniqueTopic twice = %q both times", a)
			}
			if !validTopic.MatchString(a) {
				t.Errorf("UniqueTopic() = %q, not a valid topic name", a)
			}
			if !strings.HasPrefix(a, tt.prefix) {
				t.Errorf("UniqueTopic() = %q, want prefix %q", a, tt.prefix)
			}
			if p := UniquePath(t, tt.prefix); !strings.HasPrefix(p, "/sensornode-test/") || strings.Count(p, "/") != 2 {
				t.Errorf("UniquePath() = %q, want one element under /sensornode-test/", p)
			}
		})
	}
}

func TestTopName(t *testing.T) {
	t.Run("sub", func(t *testing.T) {
		t.Run("subsub", func(t *testing.T) {
			if got := topName(t); got != "TestTopName" {
				t.Errorf("topName() = %q, want TestTopName", got)
			}
		})
	})
}

func TestDirFromEnv(t *testing.T) {
	t.Setenv(EnvDir, "/tmp/some-stack")
	if got, err := Dir(); err != nil || got != "/tmp/some-stack" {
		t.Errorf("Dir() = %q, %v, want /tmp/some-stack", got, err)
	}
	t.Setenv(EnvDir, "")
	got, err := Dir()
	if err != nil || !strings.HasSuffix(got, "/.devstack") {
		t.Errorf("Dir() without env = %q, %v, want the repo's .devstack", got, err)
	}
}
