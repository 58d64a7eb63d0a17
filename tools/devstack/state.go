package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sensornode/sensornode/libs/atomicfile"
)

// State file layout version.
const stateVersion = 1

// File names in the stack dir.
const (
	stateFileName = "state.json"
	lockFileName  = ".lock"
	scramFileName = "scram-password"
)

// ErrNoStack means the dir holds no stack state: nothing was brought up there.
var ErrNoStack = errors.New("no devstack state")

// ErrNotRunning means a process of the stack is not running.
var ErrNotRunning = errors.New("not running")

// ErrUnknownProcess means a name is not a process of the stack.
var ErrUnknownProcess = errors.New("unknown process")

// state is the JSON state file. Another process (a test binary, the CLI)
// reads it to find, kill and restart any process by name.
type state struct {
	Version      int        `json:"version"`
	Dir          string     `json:"dir"`
	PortBase     int        `json:"portBase"`
	ZooKeepers   int        `json:"zookeepers"`
	EdgeBrokers  int        `json:"edgeBrokers"`
	HDFS         bool       `json:"hdfs"`
	Java         string     `json:"java"`
	KafkaCP      string     `json:"kafkaClasspath"`
	HadoopCP     string     `json:"hadoopClasspath,omitempty"`
	SCRAMUser    string     `json:"scramUser"`
	SCRAMPass    string     `json:"scramPassword"`
	OwnedByTests bool       `json:"ownedByTests"`
	Processes    []*process `json:"processes"`
}

// process is one process of the stack as recorded in the state file.
type process struct {
	Name      string         `json:"name"`
	Kind      Kind           `json:"kind"`
	Index     int            `json:"index"`
	Args      []string       `json:"args"` // full command line; Args[0] is java
	Env       []string       `json:"env"`
	WorkDir   string         `json:"workDir"`
	DataDir   string         `json:"dataDir"`
	Ports     map[string]int `json:"ports"`
	Log       string         `json:"log"`
	PID       int            `json:"pid"`
	StartTime uint64         `json:"startTime"` // /proc/PID/stat field 22
	BootID    string         `json:"bootId"`
	StartedAt time.Time      `json:"startedAt,omitzero"`
}

func (p *process) marker(dir string) string { return marker(dir, p.Name) }

func (s *state) layout() Layout {
	return NewLayout(s.PortBase, s.ZooKeepers, s.EdgeBrokers, s.HDFS)
}

func (s *state) proc(name string) (*process, error) {
	for _, p := range s.Processes {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%q: %w", name, ErrUnknownProcess)
}

func (s *state) status(p *process) procState {
	return check(p.PID, p.StartTime, p.BootID, p.marker(s.Dir))
}

func (s *state) anyAlive() bool {
	for _, p := range s.Processes {
		if s.status(p) != procGone {
			return true
		}
	}
	return false
}

func readState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoStack)
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFileName), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s: state version %d, want %d (run clean)", dir, s.Version, stateVersion)
	}
	return &s, nil
}

func writeState(s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	// The state holds the SCRAM password.
	return writeFileAtomic(filepath.Join(s.Dir, stateFileName), append(b, '\n'), 0o600)
}

// writeFileAtomic creates path's directory and writes path atomically, so
// readers never see half a file.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, mode)
}
