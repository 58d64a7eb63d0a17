//go:build !integration

package hdfscli

import (
	"testing"

	"go.uber.org/goleak"
)

// Integration builds use devstacktest.Main (which runs goleak too).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
