//go:build !integration

package cli

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain of the unit tests; the integration build uses devstacktest.Main,
// which checks for leaks too.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
