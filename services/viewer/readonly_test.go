package viewer_test

import (
	"go/types"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// hdfsModule is the HDFS client's module; everything under it is checked.
const hdfsModule = "github.com/colinmarc/hdfs/v2"

// readOnly lists what the viewer may call in the HDFS client: functions by
// "package.Func", methods by "package.(Type).Method". An allow-list, so a
// write method added to the client is refused until someone reads it.
var readOnly = []string{
	hdfsModule + ".NewClient",
	hdfsModule + ".ClientOptionsFromConf",
	hdfsModule + ".(Client).ReadDir",
	hdfsModule + ".(Client).ReadFile",
	hdfsModule + ".(Client).Open",
	hdfsModule + ".(Client).Stat",
	hdfsModule + ".(Client).StatFs",
	hdfsModule + ".(Client).GetContentSummary",
	hdfsModule + ".(Client).Walk",
	hdfsModule + ".(Client).ListXAttrs",
	hdfsModule + ".(Client).GetXAttrs",
	hdfsModule + ".(Client).ServerDefaults",
	hdfsModule + ".(Client).Name",
	hdfsModule + ".(Client).User",
	hdfsModule + ".(Client).Close",
	hdfsModule + ".(FileReader).Read",
	hdfsModule + ".(FileReader).ReadAt",
	hdfsModule + ".(FileReader).Seek",
	hdfsModule + ".(FileReader).Close",
	hdfsModule + ".(FileReader).Name",
	hdfsModule + ".(FileReader).Stat",
	hdfsModule + ".(FileReader).Checksum",
	hdfsModule + ".(FileReader).Readdir",
	hdfsModule + ".(FileReader).Readdirnames",
	hdfsModule + ".(FileReader).SetDeadline",
	hdfsModule + ".(FileInfo).Name",
	hdfsModule + ".(FileInfo).Size",
	hdfsModule + ".(FileInfo).Mode",
	hdfsModule + ".(FileInfo).ModTime",
	hdfsModule + ".(FileInfo).IsDir",
	hdfsModule + ".(FileInfo).Sys",
	hdfsModule + ".(FileInfo).Owner",
	hdfsModule + ".(FileInfo).OwnerGroup",
	hdfsModule + ".(FileInfo).AccessTime",
	hdfsModule + ".(ContentSummary).Size",
	hdfsModule + ".(ContentSummary).SizeAfterReplication",
	hdfsModule + ".(ContentSummary).SpaceQuota",
	hdfsModule + ".(ContentSummary).NameQuota",
	hdfsModule + ".(ContentSummary).FileCount",
	hdfsModule + ".(ContentSummary).DirectoryCount",
	hdfsModule + ".(FsInfo).Capacity",
}

// TestViewerNeverWritesToHDFS loads the viewer's packages (not their tests:
// integration tests write fixtures) and fails on any use of an HDFS client
// function or method outside readOnly: direct, promoted through
// embedding, or through an interface that *hdfs.Client satisfies (an
// interface method whose name is not a read method of the client).
func TestViewerNeverWritesToHDFS(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the viewer's packages with the go command")
	}
	root := moduleRoot(t)
	pkgs, err := packages.Load(&packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo | packages.NeedImports,
		Dir:  root,
	}, "./services/viewer/...")
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("the viewer's packages do not load")
	}
	if len(pkgs) < 2 {
		t.Fatalf("loaded %d packages of ./services/viewer/...; want the store and more", len(pkgs))
	}
	for _, v := range findViolations(pkgs) {
		t.Errorf("%s: %s is not a read-only HDFS call (readonly_test.go lists those allowed)", v.pos, v.what)
	}
}

type violation struct{ pos, what string }

func findViolations(pkgs []*packages.Package) []violation {
	var out []violation
	for _, p := range pkgs {
		client := hdfsClient(p.Types)
		// Uses covers selectors, method values and promoted methods.
		for id, obj := range p.TypesInfo.Uses {
			fn, ok := obj.(*types.Func)
			if !ok {
				continue
			}
			name := funcName(fn)
			switch {
			case fn.Pkg() != nil && strings.HasPrefix(fn.Pkg().Path(), hdfsModule):
				if !slices.Contains(readOnly, name) && !strings.HasPrefix(fn.Pkg().Path(), hdfsModule+"/hadoopconf") {
					out = append(out, violation{p.Fset.Position(id.Pos()).String(), name})
				}
			case client != nil && isInterfaceMethod(fn):
				recv := fn.Signature().Recv().Type()
				iface, _ := recv.Underlying().(*types.Interface)
				if iface != nil && types.Implements(types.NewPointer(client), iface) &&
					!slices.Contains(readOnly, hdfsModule+".(Client)."+fn.Name()) {
					out = append(out, violation{p.Fset.Position(id.Pos()).String(),
						name + " (an interface *hdfs.Client satisfies; the client's " + fn.Name() + " is not read-only)"})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b violation) int { return strings.Compare(a.pos, b.pos) })
	return out
}

func isInterfaceMethod(fn *types.Func) bool {
	recv := fn.Signature().Recv()
	return recv != nil && types.IsInterface(recv.Type())
}

// funcName is "pkg.Func" or "pkg.(Type).Method".
func funcName(fn *types.Func) string {
	pkg := ""
	if fn.Pkg() != nil {
		pkg = fn.Pkg().Path()
	}
	recv := fn.Signature().Recv()
	if recv == nil {
		return pkg + "." + fn.Name()
	}
	t := recv.Type()
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	if n, ok := t.(*types.Named); ok {
		return pkg + ".(" + n.Obj().Name() + ")." + fn.Name()
	}
	return pkg + ".(" + t.String() + ")." + fn.Name()
}

// hdfsClient finds hdfs.Client among pkg's transitive imports.
func hdfsClient(pkg *types.Package) *types.Named {
	seen := map[*types.Package]bool{}
	var find func(p *types.Package) *types.Named
	find = func(p *types.Package) *types.Named {
		if seen[p] {
			return nil
		}
		seen[p] = true
		if p.Path() == hdfsModule {
			if obj, ok := p.Scope().Lookup("Client").(*types.TypeName); ok {
				n, _ := obj.Type().(*types.Named)
				return n
			}
		}
		for _, i := range p.Imports() {
			if n := find(i); n != nil {
				return n
			}
		}
		return nil
	}
	return find(pkg)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
