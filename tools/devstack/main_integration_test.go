//go:build integration

package devstack_test

import (
	"testing"

	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// TestMain shares one stack among the integration tests of this package;
// unit tests never start it.
func TestMain(m *testing.M) { devstacktest.Main(m) }
