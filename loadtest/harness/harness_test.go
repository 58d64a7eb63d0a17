package harness

import (
	"slices"
	"testing"

	"github.com/sensornode/sensornode/loadtest/pipeline"
)

// Config.ServiceEnv reaches the service's processes last (so it wins over
// the harness's own settings) and the report's settings, secrets left out.
func TestServiceEnv(t *testing.T) {
	d := &pipeline.Deployment{Backend: "franz", Prefix: "lt-1-", Nodes: 1, Extra: map[string][]string{
		pipeline.EdgeForwarder: {"SENSORNODE_EDGE_KAFKA_MAX_FETCH_BYTES=1024", "GOMEMLIMIT=24MiB", "SENSORNODE_X_PASSWORD=s"},
	}}
	env := d.ForwarderSpec().Env
	if got := env[len(env)-3:]; !slices.Equal(got, d.Extra[pipeline.EdgeForwarder]) {
		t.Errorf("forwarder environment ends with %q, want %q", got, d.Extra[pipeline.EdgeForwarder])
	}
	got := settingsEnv(d)
	if fw := got[pipeline.EdgeForwarder]; !slices.Contains(fw, "GOMEMLIMIT=24MiB") || !slices.Contains(fw, "SENSORNODE_EDGE_KAFKA_MAX_FETCH_BYTES=1024") ||
		slices.Contains(fw, "SENSORNODE_X_PASSWORD=s") {
		t.Errorf("settingsEnv()[edge-forwarder] = %q, want GOMEMLIMIT and the fetch bytes, no password", fw)
	}
	if slices.Contains(got[pipeline.CloudIngest], "GOMEMLIMIT=24MiB") {
		t.Errorf("settingsEnv()[cloud-ingest-hdfs] = %q, want no edge-forwarder environment", got[pipeline.CloudIngest])
	}
}

func TestParseEnvSpec(t *testing.T) {
	tests := []struct {
		give     string
		wantName string
		wantEnv  []string
		wantErr  bool
	}{
		{give: "edge-forwarder:A=1, B=x=y", wantName: "edge-forwarder", wantEnv: []string{"A=1", "B=x=y"}},
		{give: "cur:", wantName: "cur"},
		{give: "new@/tmp/bin:A=", wantName: "new@/tmp/bin", wantEnv: []string{"A="}},
		{give: "edge-forwarder", wantErr: true},
		{give: ":A=1", wantErr: true},
		{give: "x:A", wantErr: true},
		{give: "x:=1", wantErr: true},
	}
	for _, tt := range tests {
		name, env, err := ParseEnvSpec(tt.give)
		if (err != nil) != tt.wantErr || name != tt.wantName || !slices.Equal(env, tt.wantEnv) {
			t.Errorf("ParseEnvSpec(%q) = %q, %q, %v; want %q, %q, error %v", tt.give, name, env, err, tt.wantName, tt.wantEnv, tt.wantErr)
		}
	}
}
