package devstacktest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sensornode/sensornode/tools/devstack"
)

// AvroToolsJar is devstack.AvroToolsJar for a test: Apache Avro's
// avro-tools jar (resolved once into the cache); a failure ends the test.
func AvroToolsJar(tb testing.TB, ctx context.Context) string {
	tb.Helper()
	jar, err := devstack.AvroToolsJar(ctx, devstack.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return jar
}

// Java runs the stack's java with args as the stack's HDFS user (for
// `hdfs dfs` through st.FsShellArgs, or java -jar AvroToolsJar) and returns
// what it printed; a failure ends the test with the last two arguments
// and java's stderr.
func Java(tb testing.TB, ctx context.Context, st *devstack.Stack, args ...string) string {
	tb.Helper()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, st.Java(), args...)
	cmd.Env = append(os.Environ(), "HADOOP_USER_NAME="+devstack.HDFSUser())
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("java %s: %v\n%s", strings.Join(args[max(0, len(args)-2):], " "), err, errb.String())
	}
	return out.String()
}
