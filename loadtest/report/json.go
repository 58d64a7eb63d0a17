package report

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
)

// JSON encodes r with NaN and infinite numbers (an empty sample's mean, a
// rate over no time) as null, which encoding/json refuses to write.
func JSON(r *Result) ([]byte, error) {
	return json.MarshalIndent(jsonSafe(reflect.ValueOf(r)), "", "  ")
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

func jsonSafe(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Invalid:
		return nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonSafe(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonSafe(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[it.Key().String()] = jsonSafe(it.Value())
		}
		return out
	case reflect.Struct:
		if v.Type().Implements(marshalerType) {
			return v.Interface()
		}
		out := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			if f.Anonymous && name == f.Name && fv.Kind() == reflect.Struct {
				if m, ok := jsonSafe(fv).(map[string]any); ok {
					for k, x := range m {
						out[k] = x
					}
					continue
				}
			}
			out[name] = jsonSafe(fv)
		}
		return out
	}
	if v.Type().Implements(marshalerType) {
		return v.Interface()
	}
	return v.Interface()
}
