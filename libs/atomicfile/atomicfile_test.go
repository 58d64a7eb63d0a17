package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, give := range []string{"first", "second, longer"} {
		if err := WriteFile(path, []byte(give), 0o600); err != nil {
			t.Fatalf("WriteFile(%q) = %v", give, err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != give {
			t.Errorf("after WriteFile(%q): ReadFile = %q, %v; want %q", give, got, err, give)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("Stat(%s) = %v, %v; want mode 0600", path, fi.Mode(), err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("dir holds %d names after two writes, want 1 (no temporary file left)", len(names))
	}
}

func TestWriteFileNoDirLeavesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "f")
	if err := WriteFile(path, []byte("x"), 0o644); err == nil {
		t.Errorf("WriteFile(%s) = nil, want an error (no directory)", path)
	}
}
