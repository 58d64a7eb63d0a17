package devstack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

//go:embed pom/kafka.xml pom/hadoop.xml pom/avro-tools.xml
var poms embed.FS

// Classpath names, one per embedded pom.
const (
	classpathKafka     = "kafka"
	classpathHadoop    = "hadoop"
	classpathAvroTools = "avro-tools"
)

// AvroToolsJar resolves Apache Avro's avro-tools jar (from Maven Central,
// cached like the stack's classpaths), for tests that read what the
// project writes with the ecosystem's own tools: java -jar <it> tojson ...
func AvroToolsJar(ctx context.Context, cfg Config) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return "", err
	}
	return resolveClasspath(ctx, cfg, classpathAvroTools)
}

// resolveClasspath returns the classpath of an embedded pom. It is cached in
// cacheDir under the pom's hash, so Maven only runs when the pom changed or
// a jar vanished from ~/.m2.
func resolveClasspath(ctx context.Context, cfg Config, name string) (string, error) {
	pom, err := poms.ReadFile("pom/" + name + ".xml")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(pom)
	dir := filepath.Join(cfg.CacheDir, name+"-"+hex.EncodeToString(sum[:6]))
	out := filepath.Join(dir, "classpath.txt")
	if cp, ok := cachedClasspath(out); ok {
		return cp, nil
	}
	// Two stacks resolving at once would race on ~/.m2.
	lock, err := LockFile(ctx, filepath.Join(cfg.CacheDir, lockFileName), syscall.LOCK_EX)
	if err != nil {
		return "", err
	}
	defer lock.Unlock()
	if cp, ok := cachedClasspath(out); ok {
		return cp, nil
	}
	mvn, err := lookPath(cfg.Maven, "maven")
	if err != nil {
		return "", err
	}
	pomPath := filepath.Join(dir, "pom.xml")
	if err := writeFileAtomic(pomPath, pom, 0o644); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	cfg.Logger.Info("resolving classpath with maven", "pom", name, "cache", dir)
	start := time.Now()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, mvn, "-B", "-q", "-Dstyle.color=never",
		"-f", pomPath, "dependency:build-classpath", "-Dmdep.outputFile="+tmp)
	cmd.Dir = dir
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("maven %s classpath: %w\n%s", name, err, lastLines(buf.String(), 40))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	cp, ok := cachedClasspath(out)
	if !ok {
		return "", fmt.Errorf("maven %s classpath: %s lists a missing jar", name, out)
	}
	cfg.Logger.Info("resolved classpath", "pom", name, "took", time.Since(start).Round(time.Millisecond))
	return cp, nil
}

// cachedClasspath reads a classpath file and checks that every entry exists.
func cachedClasspath(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	cp := strings.TrimSpace(string(b))
	if cp == "" {
		return "", false
	}
	for _, jar := range strings.Split(cp, ":") {
		if _, err := os.Stat(jar); err != nil {
			return "", false
		}
	}
	return cp, true
}

// errNoJava is returned when java is not found.
var errNoJava = errors.New("java not found on PATH (install a JDK 17)")
