//go:build integration

package hdfscli

import (
	"testing"

	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { devstacktest.Main(m) }
