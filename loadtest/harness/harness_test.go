package harness

import (
	"reflect"
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

// TestBackendEnv: "<backend>/<service>" entries reach that backend's
// processes only, after the service's own; the report lists them under
// their key.
func TestBackendEnv(t *testing.T) {
	all := map[string][]string{
		pipeline.EdgeForwarder:            {"A=1"},
		"franz/" + pipeline.EdgeForwarder: {"GOMEMLIMIT=24MiB"},
		"franz/" + pipeline.CloudIngest:   {"GOMEMLIMIT=24MiB"},
	}
	tests := []struct {
		backend string
		want    map[string][]string
	}{
		{"confluent", map[string][]string{pipeline.EdgeForwarder: {"A=1"}}},
		{"franz", map[string][]string{pipeline.EdgeForwarder: {"A=1", "GOMEMLIMIT=24MiB"}, pipeline.CloudIngest: {"GOMEMLIMIT=24MiB"}}},
	}
	for _, tt := range tests {
		if got := backendEnv(all, tt.backend); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("backendEnv(%s) = %q, want %q", tt.backend, got, tt.want)
		}
	}
	d := &pipeline.Deployment{Backend: "franz", Prefix: "lt-1-", Nodes: 1, Extra: backendEnv(all, "franz")}
	got := reportEnv(d, all)
	if fw := got[pipeline.EdgeForwarder]; !slices.Contains(fw, "A=1") || slices.Contains(fw, "GOMEMLIMIT=24MiB") {
		t.Errorf("reportEnv()[edge-forwarder] = %q, want A=1 and no GOMEMLIMIT (franz's own)", fw)
	}
	if fz := got["franz/"+pipeline.EdgeForwarder]; !slices.Equal(fz, []string{"GOMEMLIMIT=24MiB"}) {
		t.Errorf("reportEnv()[franz/edge-forwarder] = %q, want GOMEMLIMIT=24MiB", fz)
	}
	if ci := got[pipeline.CloudIngest]; slices.Contains(ci, "GOMEMLIMIT=24MiB") {
		t.Errorf("reportEnv()[cloud-ingest-hdfs] = %q, want no GOMEMLIMIT (franz's own)", ci)
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
