package svc

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// EnvPrefix is the prefix of every sensornode environment variable.
const EnvPrefix = "SENSORNODE"

// Validator is a config that checks itself after loading.
type Validator interface {
	Validate() error
}

// LoadConfig fills cfg (a pointer to a struct with envconfig tags and its
// defaults already set, or `default` tags) from SENSORNODE_* environment
// variables, then validates it.
func LoadConfig(cfg Validator) error {
	if err := envconfig.Process(EnvPrefix, cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// ConfigAttrs renders cfg as log attributes, one per field (nested structs
// flattened with dots), replacing fields tagged `secret:"true"` with
// "<redacted>" when they are set.
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
		name := prefix + f.Name
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && f.Type.PkgPath() != "time" {
			walkConfig(fv, name+".", out)
			continue
		}
		if f.Tag.Get("secret") == "true" {
			if !fv.IsZero() {
				*out = append(*out, slog.String(name, "<redacted>"))
			}
			continue
		}
		*out = append(*out, slog.Any(name, fv.Interface()))
	}
}

// Problems collects validation problems so Validate reports all at once.
type Problems []string

// Addf records a problem.
func (p *Problems) Addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Err returns nil without problems, else one error listing them.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %s", strings.Join(p, "; "))
}
