package devstack

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
)

// Defaults of Config.
const (
	DefaultPortBase    = 29000
	DefaultZooKeepers  = 3
	DefaultEdgeBrokers = 3

	// PortSpan is the number of ports one stack may use, from PortBase to
	// PortBase+PortSpan-1. Offsets 900..999 are never used by the stack and
	// are free for callers (fault proxies, MirrorMaker's REST port, ...).
	PortSpan = 1000
	// FreePortOffset is the first offset left free for callers.
	FreePortOffset = 900
)

// Versions of what the stack runs.
const (
	KafkaVersion  = "3.9.2"
	HadoopVersion = "3.4.2"
)

// Config says which stack to bring up and where. The zero value of every
// field but Dir means its default.
type Config struct {
	// Dir holds the state file, configuration, data and logs. Required.
	Dir string
	// PortBase is the first port of the stack's port range; see Layout.
	PortBase int
	// ZooKeepers is the size of the ensemble: 3 or 5.
	ZooKeepers int
	// EdgeBrokers is the size of the edge Kafka cluster: 3 or 5.
	EdgeBrokers int
	// NoHDFS leaves out the NameNode and the DataNode.
	NoHDFS bool
	// Java is the java binary; default: "java" on PATH.
	Java string
	// Maven is the mvn binary used to resolve classpaths; default: "mvn"
	// on PATH. It only runs when the cached classpath is missing.
	Maven string
	// CacheDir caches the resolved classpaths; default:
	// os.UserCacheDir()/sensornode/devstack.
	CacheDir string
	// Logger receives progress; default: discard.
	Logger *slog.Logger
	// OwnedByTests marks a stack that devstacktest starts: the last test
	// binary that uses it stops it. A stack brought up without it (the CLI)
	// is left running by tests. It only applies when nothing of the stack
	// was running before Up.
	OwnedByTests bool
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.PortBase == 0 {
		c.PortBase = DefaultPortBase
	}
	if c.ZooKeepers == 0 {
		c.ZooKeepers = DefaultZooKeepers
	}
	if c.EdgeBrokers == 0 {
		c.EdgeBrokers = DefaultEdgeBrokers
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dir != "" {
		abs, err := filepath.Abs(c.Dir)
		if err != nil {
			return c, fmt.Errorf("stack dir: %w", err)
		}
		c.Dir = abs
	}
	if c.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return c, fmt.Errorf("cache dir: %w", err)
		}
		c.CacheDir = filepath.Join(base, "sensornode", "devstack")
	}
	if c.Java == "" {
		c.Java = "java"
	}
	if c.Maven == "" {
		c.Maven = "mvn"
	}
	return c, nil
}

// Validate reports the first problem with c (after defaults are applied).
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	if c.ZooKeepers != 3 && c.ZooKeepers != 5 {
		errs = append(errs, fmt.Errorf("zookeepers = %d, want 3 or 5", c.ZooKeepers))
	}
	if c.EdgeBrokers != 3 && c.EdgeBrokers != 5 {
		errs = append(errs, fmt.Errorf("edge brokers = %d, want 3 or 5", c.EdgeBrokers))
	}
	if c.PortBase < 1024 || c.PortBase+PortSpan-1 > 65535 {
		errs = append(errs, fmt.Errorf("port base = %d, want 1024..%d", c.PortBase, 65535-PortSpan+1))
	}
	return errors.Join(errs...)
}

// lookPath resolves a binary name to an absolute path.
func lookPath(name, what string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return abs, nil
}

// RepoRoot walks up from dir to the first directory holding go.mod (the
// sensornode module is the whole repository), falling back to the first
// holding .git.
func RepoRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for _, marker := range []string{"go.mod", ".git"} {
		for d := abs; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, marker)); err == nil {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("no go.mod or .git above %s", abs)
}

// DirName is the stack dir's name under the repo root: $REPO/.devstack.
const DirName = ".devstack"

// EnvDir names the environment variable that chooses the stack dir.
const EnvDir = "SENSORNODE_DEVSTACK_DIR"

// DefaultDir is the stack dir the commands and tests use unless told
// otherwise: $SENSORNODE_DEVSTACK_DIR, else DirName at the repo root above
// the working directory.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot(".")
	if err != nil {
		return "", err
	}
	return filepath.Join(root, DirName), nil
}
