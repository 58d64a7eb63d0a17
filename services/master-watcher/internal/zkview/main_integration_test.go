//go:build integration

package zkview

import (
	"testing"

	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }
