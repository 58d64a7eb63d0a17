package svc

import (
	"encoding"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// EnvPrefix is the prefix of every sensornode environment variable.
const EnvPrefix = "SENSORNODE"

// ScopePrefix is the prefix of the variables meant for one service only
// when several run in one process (node-agent): SENSORNODE_CAMERA_PRODUCER_,
// SENSORNODE_TEMP_PRODUCER_, SENSORNODE_MASTER_WATCHER_.
func ScopePrefix(service string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_"
}

// ScopedName is the scoped form of the full variable name key for service:
// SENSORNODE_TOPIC for camera-producer is SENSORNODE_CAMERA_PRODUCER_TOPIC.
func ScopedName(service, key string) string {
	return ScopePrefix(service) + strings.TrimPrefix(key, EnvPrefix+"_")
}

// Validator is a config that checks itself after loading.
type Validator interface {
	Validate() error
}

// LoadConfig fills cfg (a pointer to a struct with envconfig tags and its
// defaults already set, or `default` tags) from SENSORNODE_* environment
// variables, then validates it.
//
// Unlike plain envconfig, a variable is only ever read under its full
// prefixed name: envconfig falls back to the bare tag name when the
// prefixed one is unset, so a nested `envconfig:"USERNAME"` would silently
// pick up $USERNAME. LoadConfig hides such bare variables while it runs.
//
// Variables a Renamer config renamed are read under their old names too
// (see Renamer); Start logs the warnings.
func LoadConfig(cfg Validator) error {
	_, err := loadConfig(cfg)
	return err
}

// LoadConfigWarnings is LoadConfig returning the warnings Start logs (old
// names of renamed variables in use), for a process that loads several
// services' configs (services/node-agent).
func LoadConfigWarnings(cfg Validator) (warnings []string, err error) {
	return loadConfig(cfg)
}

func loadConfig(cfg Validator) (warnings []string, err error) {
	warnings, unrename, err := applyRenamed(cfg)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	restore := hideBareFallbacks(EnvPrefix, cfg)
	err = envconfig.Process(EnvPrefix, cfg)
	restore()
	unrename()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return warnings, nil
}

// ConfigAttrs renders cfg as log attributes, one per field (nested structs
// flattened with dots), replacing fields tagged `secret:"true"` with
// "<redacted>" when they are set and leaving out fields tagged
// `ignored:"true"` (not read from the environment).
func ConfigAttrs(cfg any) []any {
	var out []any
	walkConfig(reflect.ValueOf(cfg), "", &out)
	return out
}

func walkConfig(v reflect.Value, prefix string, out *[]any) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Tag.Get("ignored") == "true" {
			continue // not configuration (envconfig skips it too), e.g. callbacks
		}
		name := prefix + f.Name
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && f.Type.PkgPath() != "time" {
			if f.Anonymous {
				walkConfig(fv, prefix, out) // embedded blocks (Common) keep the outer names
			} else {
				walkConfig(fv, name+".", out)
			}
			continue
		}
		if f.Tag.Get("secret") == "true" {
			if !fv.IsZero() {
				*out = append(*out, slog.String(name, "<redacted>"))
			}
			continue
		}
		if d, ok := fv.Interface().(time.Duration); ok {
			*out = append(*out, slog.String(name, d.String())) // "20s", not 20000000000
			continue
		}
		*out = append(*out, slog.Any(name, fv.Interface()))
	}
}

// Problems collects validation problems so Validate reports all at once.
type Problems []string

// Addf records a problem.
func (p *Problems) Addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Positive records "<name> must be positive, got <d>" for every duration
// of durations (by variable name) that is not positive, in name order.
func (p *Problems) Positive(durations map[string]time.Duration) {
	for _, name := range slices.Sorted(maps.Keys(durations)) {
		if d := durations[name]; d <= 0 {
			p.Addf("%s must be positive, got %v", name, d)
		}
	}
}

// Err returns nil without problems, else one error listing them.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %s", strings.Join(p, "; "))
}

// envVar is one variable envconfig reads: its full key and the bare
// fallback name it would also try.
type envVar struct{ key, alt string }

var (
	splitWordsRE = regexp.MustCompile("([^A-Z]+|[A-Z]+[^A-Z]+|[A-Z]+)")
	acronymRE    = regexp.MustCompile("([A-Z]+)([A-Z][^A-Z]+)")
	textUnmarsh  = reflect.TypeFor[encoding.TextUnmarshaler]()
	binUnmarsh   = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	decoderT     = reflect.TypeFor[envconfig.Decoder]()
	setterT      = reflect.TypeFor[envconfig.Setter]()
)

// envVars lists the variables of spec's type the way envconfig's
// gatherInfo names them.
func envVars(prefix string, t reflect.Type) []envVar {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []envVar
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || strings.EqualFold(f.Tag.Get("ignored"), "true") {
			continue
		}
		alt := strings.ToUpper(f.Tag.Get("envconfig"))
		key := f.Name
		if strings.EqualFold(f.Tag.Get("split_words"), "true") {
			var words []string
			for _, w := range splitWordsRE.FindAllString(f.Name, -1) {
				if m := acronymRE.FindStringSubmatch(w); len(m) == 3 {
					words = append(words, m[1], m[2])
				} else {
					words = append(words, w)
				}
			}
			if len(words) > 0 {
				key = strings.Join(words, "_")
			}
		}
		if alt != "" {
			key = alt
		}
		if prefix != "" {
			key = prefix + "_" + key
		}
		key = strings.ToUpper(key)
		out = append(out, envVar{key: key, alt: alt})
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			pt := reflect.PointerTo(ft)
			if pt.Implements(textUnmarsh) || pt.Implements(binUnmarsh) || pt.Implements(decoderT) || pt.Implements(setterT) {
				continue
			}
			inner := key
			if f.Anonymous {
				inner = prefix
			}
			out = append(out, envVars(inner, ft)...)
		}
	}
	return out
}

// hideBareFallbacks unsets every bare variable envconfig would fall back
// to for spec, and returns a function that puts them back.
func hideBareFallbacks(prefix string, spec any) (restore func()) {
	saved := map[string]string{}
	for _, v := range envVars(prefix, reflect.TypeOf(spec)) {
		if v.alt == "" || v.alt == v.key {
			continue
		}
		if _, set := os.LookupEnv(v.key); set {
			continue
		}
		if val, set := os.LookupEnv(v.alt); set {
			saved[v.alt] = val
			os.Unsetenv(v.alt)
		}
	}
	return func() {
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}
}

// toolEnv reports whether k belongs to the development tools' own
// namespaces (devstack and kubestack env, the load test, the image
// builds), never read by services.
func toolEnv(k string) bool {
	for _, ns := range []string{"_DEVSTACK_", "_KUBESTACK_", "_LOADTEST_", "_IMAGES_"} {
		if strings.HasPrefix(k, EnvPrefix+ns) {
			return true
		}
	}
	return false
}

// EnvNames lists the full names of the variables LoadConfig reads for
// cfg, old names of renamed ones included.
func EnvNames(cfg any) []string {
	var out []string
	for _, v := range envVars(EnvPrefix, reflect.TypeOf(cfg)) {
		out = append(out, v.key)
	}
	return append(out, renamedKnown(cfg)...) // old names: warned about as deprecated instead
}

// A KnownEnver config reads variables beyond its own fields (a host
// process's config, whose services read theirs): UnknownEnv does not
// report those KnownEnv lists (full names, with the prefix).
type KnownEnver interface {
	KnownEnv() []string
}

// UnknownEnv lists SENSORNODE_* variables in the environment that cfg does
// not read: most likely typos. Services log them as a warning at start.
func UnknownEnv(cfg any) []string {
	known := map[string]bool{}
	for _, k := range EnvNames(cfg) {
		known[k] = true
	}
	if ke, ok := cfg.(KnownEnver); ok {
		for _, k := range ke.KnownEnv() {
			known[k] = true
		}
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, EnvPrefix+"_") && !known[k] && !toolEnv(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// SplitList splits a comma-separated list (a flag's value): items are
// trimmed and empty ones dropped, so "a, b,,c" is [a b c] and "" is nil.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
