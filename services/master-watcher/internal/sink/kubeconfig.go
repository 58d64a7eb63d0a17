package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"text/template"

	"github.com/sensornode/sensornode/libs/atomicfile"

	"github.com/sensornode/sensornode/services/master-watcher/internal/masters"
)

// KubeconfigConfig configures the kubeconfig sink.
type KubeconfigConfig struct {
	// Path of the kubeconfig file to maintain.
	Path string
	// TemplateFile optionally replaces the built-in template (Go
	// text/template over KubeconfigData; the function quote renders a
	// string as a quoted YAML scalar).
	TemplateFile string
	// Fields of the built-in template.
	Cluster, User, Context                           string
	CAFile, ClientCertFile, ClientKeyFile, TokenFile string
}

// KubeconfigData is what the template sees.
type KubeconfigData struct {
	Server      string // URL of the active master
	MasterIndex int
	Node        string
	Masters     []string
	Cluster     string
	User        string
	Context     string
	CAFile      string
	// ClientCertFile and ClientKeyFile, or TokenFile, authenticate.
	ClientCertFile string
	ClientKeyFile  string
	TokenFile      string
}

const defaultKubeconfigTemplate = `# Written by master-watcher; the server follows the active master.
apiVersion: v1
kind: Config
clusters:
- name: {{quote .Cluster}}
  cluster:
    server: {{quote .Server}}
{{- if .CAFile}}
    certificate-authority: {{quote .CAFile}}
{{- end}}
users:
- name: {{quote .User}}
{{- if or .ClientCertFile .TokenFile}}
  user:
{{- if .ClientCertFile}}
    client-certificate: {{quote .ClientCertFile}}
    client-key: {{quote .ClientKeyFile}}
{{- end}}
{{- if .TokenFile}}
    tokenFile: {{quote .TokenFile}}
{{- end}}
{{- else}}
  user: {}
{{- end}}
contexts:
- name: {{quote .Context}}
  context:
    cluster: {{quote .Cluster}}
    user: {{quote .User}}
current-context: {{quote .Context}}
`

// Kubeconfig keeps a kubeconfig file pointed at the active master. The file
// is rewritten only when its content changes, atomically: a temporary file
// in the same directory, fsync, rename, fsync of the directory. A reader
// sees the old or the new file, never a partial one.
type Kubeconfig struct {
	cfg  KubeconfigConfig
	tmpl *template.Template
	log  *slog.Logger
	m    *Metrics
}

// NewKubeconfig parses the template (the built-in one unless
// cfg.TemplateFile is set).
func NewKubeconfig(cfg KubeconfigConfig, log *slog.Logger, m *Metrics) (*Kubeconfig, error) {
	if cfg.Path == "" {
		return nil, errors.New("kubeconfig: empty path")
	}
	if (cfg.ClientCertFile == "") != (cfg.ClientKeyFile == "") {
		return nil, errors.New("kubeconfig: client certificate and key go together")
	}
	text := defaultKubeconfigTemplate
	if cfg.TemplateFile != "" {
		b, err := os.ReadFile(cfg.TemplateFile)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig template: %w", err)
		}
		text = string(b)
	}
	t, err := template.New("kubeconfig").Funcs(template.FuncMap{"quote": quote}).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig template: %w", err)
	}
	k := &Kubeconfig{cfg: cfg, tmpl: t, log: log.With("sink", "kubeconfig"), m: m}
	// Render once now so that a broken template fails at startup.
	if _, err := k.Render(Change{Active: masters.Master{URL: "https://127.0.0.1:6443"}}); err != nil {
		return nil, err
	}
	return k, nil
}

// quote renders s as a double-quoted scalar: JSON strings are valid YAML.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Render returns the file content for c.
func (k *Kubeconfig) Render(c Change) ([]byte, error) {
	d := KubeconfigData{
		Server: c.Active.URL, MasterIndex: c.Active.Index, Node: c.Node, Masters: masters.URLs(c.Masters),
		Cluster: k.cfg.Cluster, User: k.cfg.User, Context: k.cfg.Context, CAFile: k.cfg.CAFile,
		ClientCertFile: k.cfg.ClientCertFile, ClientKeyFile: k.cfg.ClientKeyFile, TokenFile: k.cfg.TokenFile,
	}
	var buf bytes.Buffer
	if err := k.tmpl.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("kubeconfig template: %w", err)
	}
	return buf.Bytes(), nil
}

// Apply writes the kubeconfig for c if it differs from the file.
func (k *Kubeconfig) Apply(_ context.Context, c Change) error {
	b, err := k.Render(c)
	if err == nil {
		var changed bool
		changed, err = writeIfChanged(k.cfg.Path, b, 0o600)
		if err == nil {
			if changed {
				k.m.KubeconfigWrites.WithLabelValues("written").Inc()
				k.log.Info("kubeconfig written", "path", k.cfg.Path, "server", c.Active.URL)
			} else {
				k.m.KubeconfigWrites.WithLabelValues("unchanged").Inc()
			}
			return nil
		}
	}
	k.m.KubeconfigWrites.WithLabelValues("error").Inc()
	k.log.Error("kubeconfig not written", "path", k.cfg.Path, "server", c.Active.URL, "err", err)
	return err
}

// writeIfChanged atomically replaces path with b unless it holds b already.
func writeIfChanged(path string, b []byte, mode fs.FileMode) (bool, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, atomicfile.WriteFile(path, b, mode)
}
