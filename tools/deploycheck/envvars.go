package deploycheck

import (
	"fmt"
	"go/ast"
	"go/types"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sensornode/sensornode/libs/svc"
	"golang.org/x/tools/go/packages"
)

// EnvVar is one environment variable a service reads.
type EnvVar struct {
	Name     string // e.g. SENSORNODE_EDGE_KAFKA_BROKERS
	Type     string // Go type of the field
	Required bool   // `required:"true"`
	Default  string // `default:"..."`
	Config   string // the config type it belongs to
}

// loaders are the functions whose argument is a config struct filled from
// SENSORNODE_* variables: the index of that argument and the prefix.
var loaders = map[string]struct {
	arg    int
	prefix string
}{
	"github.com/sensornode/sensornode/libs/svc.LoadConfig": {0, "SENSORNODE"},
	"github.com/sensornode/sensornode/libs/svc.Start":      {1, "SENSORNODE"},
	"github.com/kelseyhightower/envconfig.Process":         {1, ""},
	"github.com/kelseyhightower/envconfig.MustProcess":     {1, ""},
}

// ServiceEnv finds every config struct a service loads from the
// environment (arguments of svc.LoadConfig, svc.Start or envconfig.Process anywhere
// in services/<svc>/...) and returns the variables they define, computed
// with envconfig's own naming rules (prefix, `envconfig` tags, nested
// structs composing names, embedded structs keeping the prefix, `ignored`,
// `split_words`, decoders as leaves). Configs it cannot resolve (an
// interface or type parameter argument) are returned in unresolved.
func ServiceEnv(root, service string) (vars map[string]EnvVar, configs []string, unresolved []string, err error) {
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes |
			packages.NeedTypesInfo | packages.NeedImports,
		Dir: root,
	}
	pkgs, err := packages.Load(cfg, "./services/"+service+"/...")
	if err != nil {
		return nil, nil, nil, err
	}
	var loadErrs []string
	packages.Visit(pkgs, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			loadErrs = append(loadErrs, e.Error())
		}
	})
	if len(loadErrs) > 0 {
		return nil, nil, nil, fmt.Errorf("load %s: %s", service, strings.Join(loadErrs, "; "))
	}
	vars = map[string]EnvVar{}
	seenCfg := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Syntax {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				fn := calledFunc(p.TypesInfo, call)
				if fn == nil {
					return true
				}
				l, ok := loaders[fn.FullName()]
				if !ok || len(call.Args) <= l.arg {
					return true
				}
				prefix := l.prefix
				if prefix == "" {
					// envconfig.Process(prefix, spec): a constant prefix.
					if tv, ok := p.TypesInfo.Types[call.Args[0]]; ok && tv.Value != nil {
						prefix, _ = strconv.Unquote(tv.Value.ExactString())
					}
				}
				t := p.TypesInfo.TypeOf(call.Args[l.arg])
				for {
					ptr, ok := t.(*types.Pointer)
					if !ok {
						break
					}
					t = ptr.Elem()
				}
				if _, ok := t.Underlying().(*types.Struct); !ok {
					unresolved = append(unresolved, fmt.Sprintf("%s: %s(%s)", p.Fset.Position(call.Pos()), fn.Name(), t))
					return true
				}
				name := types.TypeString(t, nil)
				if !seenCfg[name] {
					seenCfg[name] = true
					configs = append(configs, name)
				}
				walkEnv(t, strings.ToUpper(prefix), name, vars)
				return true
			})
		}
	}
	sort.Strings(configs)
	return vars, configs, unresolved, nil
}

// CombinedEnv is what node-agent reads: its own variables (own), and each
// part's (parts: service -> its variables) under their own names and in
// their scoped form (svc.ScopedName), which is never required.
func CombinedEnv(own map[string]EnvVar, parts map[string]map[string]EnvVar) map[string]EnvVar {
	out := map[string]EnvVar{}
	for service, vars := range parts {
		for name, v := range vars {
			out[name] = v
			v.Name, v.Required = svc.ScopedName(service, name), false
			out[v.Name] = v
		}
	}
	for name, v := range own {
		out[name] = v
	}
	return out
}

// EffectiveEnv is the environment service sees inside node-agent whose
// container has env (name -> value) and that reads vars: every variable of
// vars under its own name, replaced by its scoped form where that is set.
// It is what service's own container must have had.
func EffectiveEnv(service string, env map[string]string, vars map[string]EnvVar) map[string]string {
	out := map[string]string{}
	for name := range vars {
		if v, ok := env[name]; ok {
			out[name] = v
		}
		if v, ok := env[svc.ScopedName(service, name)]; ok {
			out[name] = v
		}
	}
	return out
}

func calledFunc(info *types.Info, call *ast.CallExpr) *types.Func {
	var id *ast.Ident
	switch f := ast.Unparen(call.Fun).(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	case *ast.IndexExpr: // generic instantiation
		if s, ok := f.X.(*ast.SelectorExpr); ok {
			id = s.Sel
		} else if i, ok := f.X.(*ast.Ident); ok {
			id = i
		}
	}
	if id == nil {
		return nil
	}
	fn, _ := info.Uses[id].(*types.Func)
	return fn
}

func isTrue(s string) bool {
	b, _ := strconv.ParseBool(s)
	return b
}

// envconfig's split_words regexps.
var (
	gatherRegexp  = regexp.MustCompile("([^A-Z]+|[A-Z]+[^A-Z]+|[A-Z]+)")
	acronymRegexp = regexp.MustCompile("([A-Z]+)([A-Z][^A-Z]+)")
)

func splitWords(name string) string {
	words := gatherRegexp.FindAllStringSubmatch(name, -1)
	var parts []string
	for _, w := range words {
		if m := acronymRegexp.FindStringSubmatch(w[0]); len(m) == 3 {
			parts = append(parts, m[1], m[2])
		} else {
			parts = append(parts, w[0])
		}
	}
	return strings.Join(parts, "_")
}

// isLeaf reports whether envconfig treats a struct type as one value: it
// implements envconfig.Decoder, envconfig.Setter, encoding.TextUnmarshaler
// or encoding.BinaryUnmarshaler.
func isLeaf(t types.Type) bool {
	ms := types.NewMethodSet(types.NewPointer(t))
	for _, m := range []string{"Decode", "Set", "UnmarshalText", "UnmarshalBinary"} {
		for i := 0; i < ms.Len(); i++ {
			if ms.At(i).Obj().Name() == m {
				return true
			}
		}
	}
	return false
}

func walkEnv(t types.Type, prefix, cfgName string, out map[string]EnvVar) {
	st, ok := t.Underlying().(*types.Struct)
	if !ok {
		return
	}
	for i := 0; i < st.NumFields(); i++ {
		f := st.Field(i)
		tag := reflect.StructTag(st.Tag(i))
		if !f.Exported() || isTrue(tag.Get("ignored")) {
			continue
		}
		ft := f.Type()
		for {
			p, ok := ft.(*types.Pointer)
			if !ok {
				break
			}
			ft = p.Elem()
		}
		key := f.Name()
		if isTrue(tag.Get("split_words")) {
			key = splitWords(key)
		}
		if alt := strings.ToUpper(tag.Get("envconfig")); alt != "" {
			key = alt
		}
		if prefix != "" {
			key = prefix + "_" + key
		}
		key = strings.ToUpper(key)
		if _, isStruct := ft.Underlying().(*types.Struct); isStruct && !isLeaf(ft) {
			inner := prefix
			if !f.Anonymous() {
				inner = key
			}
			walkEnv(ft, inner, cfgName, out)
			continue
		}
		out[key] = EnvVar{
			Name:     key,
			Type:     types.TypeString(ft, func(p *types.Package) string { return p.Name() }),
			Required: isTrue(tag.Get("required")),
			Default:  tag.Get("default"),
			Config:   cfgName,
		}
	}
}
