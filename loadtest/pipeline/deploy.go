package pipeline

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
)

// Camera is how the camera producers get pictures.
type Camera struct {
	// Source is "synthetic" (generated frames through the motion
	// detector) or "directory" (the harness drops JPEG files into the
	// spool directory, as motion does).
	Source string
	// Synthetic camera settings (SENSORNODE_MOTION_* and _SYNTHETIC_*).
	Width, Height, Framerate     int
	EventInterval, EventDuration time.Duration
	EventGap                     time.Duration
}

// Deployment says how to run the pipeline's services on a cluster: topic
// names, HDFS layout, directories, ports and the Kafka backend.
type Deployment struct {
	Cluster Cluster
	Bins    Binaries
	// Backend is the Kafka backend of every service; "" keeps each
	// service's default.
	Backend string
	// Form is the camera producers' wire form: binary or json.
	Form  string
	Nodes int
	// Prefix is prepended to every topic name and consumer group; "" gives
	// the default names (node1.., temperatureLocal, cameraData, ...).
	Prefix string
	// HDFSRoot holds pictures (HDFSRoot/camera/...), readings
	// (HDFSRoot/temperature/...) and temporary files (HDFSRoot/_tmp).
	HDFSRoot string
	// PictureStore is cloud-ingest-hdfs's picture store: "files" (or "",
	// the service's default) or "avro" (bundles under BundleDir).
	PictureStore string
	// BundleMaxAge rolls a bundle this long after its first picture (0:
	// the service's default).
	BundleMaxAge time.Duration
	// BundleMaxBytes rolls a bundle at this size (0: the service's
	// default, 128 MiB).
	BundleMaxBytes int64
	// FlatPictures stores pictures as HDFSRoot/camera/<camera>/<key>.jpg
	// instead of the dated default layout (cheaper to list in load tests).
	FlatPictures bool
	// WorkDir holds a directory per node (spool, quarantine, archive).
	WorkDir string
	LogDir  string
	// ArchivePictures keeps every acknowledged picture in
	// WorkDir/nodeN/archive instead of deleting it (run --check uses it).
	ArchivePictures bool
	Camera          Camera
	// TempInterval is the temp-producer's reading interval.
	TempInterval time.Duration
	// TemperatureRotate is how long cloud-ingest-hdfs buffers readings.
	TemperatureRotate time.Duration
	// Pprof serves the Go profiles on every service's admin server
	// (SENSORNODE_ADMIN_PPROF_ENABLED=true): the load test fetches heap
	// profiles at the drains' peaks.
	Pprof bool
	// PortFree, if set, replaces the check that an admin port can be bound
	// (tests that pin the addresses a spec gets, whatever else runs here).
	PortFree func(port int) bool
	// Extra environment per service name.
	Extra map[string][]string
}

// NodeTopic is the edge picture topic of node n.
func (d *Deployment) NodeTopic(n int) string { return d.Prefix + messages.NodeTopic(n) }

// NodeTopicPattern matches the edge picture topics node1..nodeN of the
// deployment.
func (d *Deployment) NodeTopicPattern() string {
	return "^" + regexp.QuoteMeta(d.Prefix) + "node[0-9]+$"
}

// LocalTempTopic is the edge temperature topic.
func (d *Deployment) LocalTempTopic() string { return d.Prefix + messages.TopicLocalTemperature }

// CloudCameraTopic is the cloud picture topic.
func (d *Deployment) CloudCameraTopic() string { return d.Prefix + messages.TopicCamera }

// CloudTempTopic is the cloud temperature topic.
func (d *Deployment) CloudTempTopic() string { return d.Prefix + messages.TopicTemperature }

// PictureDir is the HDFS directory holding the pictures.
func (d *Deployment) PictureDir() string { return d.HDFSRoot + "/camera" }

// BundleDir is the HDFS directory holding the picture bundles of the
// avro store.
func (d *Deployment) BundleDir() string { return d.HDFSRoot + "/bundles" }

// TemperatureDir is the HDFS directory holding the readings.
func (d *Deployment) TemperatureDir() string { return d.HDFSRoot + "/temperature" }

// NodeDir is the local directory of node n.
func (d *Deployment) NodeDir(n int) string {
	return filepath.Join(d.WorkDir, messages.NodeTopic(n))
}

// SpoolDir is where node n's pictures wait to be sent.
func (d *Deployment) SpoolDir(n int) string { return filepath.Join(d.NodeDir(n), "camera") }

// ArchiveDir is where node n's acknowledged pictures go when kept.
func (d *Deployment) ArchiveDir(n int) string { return filepath.Join(d.NodeDir(n), "archive") }

// Admin ports, as offsets from Cluster.FreePortBase.
const (
	portCamera    = 0  // + node
	portTemp      = 20 // + node
	portForwarder = 41
	portIngest    = 42
	portExtra     = 43
	portViewer    = 44
)

// admin is the admin address for a port offset: FreePortBase+offset when
// that port is free, else the first free one of FreePortBase+50..99 from
// FreePortBase+50+offset on (a stack whose port base lies in Linux's
// ephemeral range may find its ports taken by some client's outgoing
// connection). Starting the search at the offset's own spare keeps two
// services whose ports are both taken from being given the same spare:
// nothing binds a port until its process starts.
func (d *Deployment) admin(offset int) string {
	port := d.Cluster.FreePortBase + offset
	if !d.portFree(port) {
		for i := range 50 {
			if alt := d.Cluster.FreePortBase + 50 + (offset+i)%50; d.portFree(alt) {
				port = alt
				break
			}
		}
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// nodeAdmin is the admin address of node n's producer at offset base
// (portCamera or portTemp): 20 ports per kind are reserved, so a larger
// fleet's producers beyond them get a port the kernel picks (a clash is
// retried on SpareAdmin as for any port).
func (d *Deployment) nodeAdmin(base, n int) string {
	if n < portTemp-portCamera {
		return d.admin(base + n)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return d.SpareAdmin()
	}
	defer l.Close()
	return l.Addr().String()
}

// SpareAdmin is a free admin address of FreePortBase+50..99, picked at
// random, for a retry after a port clash.
func (d *Deployment) SpareAdmin() string {
	for range 50 {
		port := d.Cluster.FreePortBase + 50 + rand.IntN(50)
		if d.portFree(port) {
			return "127.0.0.1:" + strconv.Itoa(port)
		}
	}
	return d.admin(50)
}

// portFree reports whether 127.0.0.1:port can be bound right now
// (Deployment.PortFree if set: the unit tests' fixed ports).
func (d *Deployment) portFree(port int) bool {
	if d.PortFree != nil {
		return d.PortFree(port)
	}
	return bindable(port)
}

// bindable reports whether 127.0.0.1:port can be bound right now.
func bindable(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// EdgeTopicSpecs lists the edge topics to create: the node topics and the
// local temperature topic, with the given extra topic config.
func (d *Deployment) EdgeTopicSpecs(config map[string]string) []bus.TopicSpec {
	var out []bus.TopicSpec
	for n := 1; n <= d.Nodes; n++ {
		out = append(out, d.EdgeTopic(d.NodeTopic(n), 1, config))
	}
	return append(out, d.EdgeTopic(d.LocalTempTopic(), 1, config))
}

// EdgeTopic is one edge topic spec with the cluster's replication.
func (d *Deployment) EdgeTopic(name string, partitions int, config map[string]string) bus.TopicSpec {
	return bus.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: d.Cluster.EdgeRF,
		Config: withISR(config, d.Cluster.EdgeMinISR)}
}

// CloudTopicSpecs lists the cloud topics: pictures, readings and their
// dead-letter topics.
func (d *Deployment) CloudTopicSpecs(config map[string]string, partitions int) []bus.TopicSpec {
	var out []bus.TopicSpec
	for _, t := range []string{d.CloudCameraTopic(), d.CloudTempTopic()} {
		out = append(out, d.CloudTopic(t, partitions, config), d.CloudTopic(messages.DeadLetterTopic(t), 1, nil))
	}
	return out
}

// CloudTopic is one cloud topic spec with the cluster's replication.
func (d *Deployment) CloudTopic(name string, partitions int, config map[string]string) bus.TopicSpec {
	return bus.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: d.Cluster.CloudRF,
		Config: withISR(config, d.Cluster.CloudMinISR)}
}

func withISR(config map[string]string, isr int) map[string]string {
	out := map[string]string{"min.insync.replicas": strconv.Itoa(isr)}
	for k, v := range config {
		out[k] = v
	}
	return out
}

func baseEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	home, _ := os.UserHomeDir()
	return []string{"PATH=" + path, "HOME=" + home, "LANG=C.UTF-8"}
}

func (d *Deployment) spec(name, service, admin string, env []string) Spec {
	env = append(append(baseEnv(), "SENSORNODE_ADMIN_ADDR="+admin), env...)
	if d.Pprof {
		env = append(env, "SENSORNODE_ADMIN_PPROF_ENABLED=true")
	}
	env = append(env, d.Extra[service]...)
	return Spec{
		Name: name, Service: service, Path: d.Bins[service], Env: env, Dir: d.WorkDir,
		Log: filepath.Join(d.LogDir, name+".log"), AdminAddr: admin,
	}
}

// CameraProducerSpec starts node n's camera producer sending to topic
// ("" = the node topic).
func (d *Deployment) CameraProducerSpec(n int, topic string) Spec {
	if topic == "" {
		topic = d.NodeTopic(n)
	}
	env := []string{
		"SENSORNODE_NODE_ID=" + messages.NodeTopic(n),
		"SENSORNODE_CAMERA_ID=" + messages.CameraID(n),
		"SENSORNODE_TOPIC=" + topic,
		"SENSORNODE_FORM=" + d.Form,
		"SENSORNODE_SOURCE=" + d.Camera.Source,
		"SENSORNODE_DIR=" + d.SpoolDir(n),
		"SENSORNODE_QUARANTINE_DIR=" + filepath.Join(d.NodeDir(n), "quarantine"),
		"SENSORNODE_NAME_TIME_ZONE=UTC",
	}
	if d.ArchivePictures {
		env = append(env, "SENSORNODE_ARCHIVE_DIR="+d.ArchiveDir(n))
	}
	if d.Camera.Source == "synthetic" {
		env = append(env,
			"SENSORNODE_MOTION_WIDTH="+strconv.Itoa(d.Camera.Width),
			"SENSORNODE_MOTION_HEIGHT="+strconv.Itoa(d.Camera.Height),
			"SENSORNODE_MOTION_FRAMERATE="+strconv.Itoa(d.Camera.Framerate),
			"SENSORNODE_MOTION_EVENT_GAP="+d.Camera.EventGap.String(),
			"SENSORNODE_SYNTHETIC_EVENT_INTERVAL="+d.Camera.EventInterval.String(),
			"SENSORNODE_SYNTHETIC_EVENT_DURATION="+d.Camera.EventDuration.String(),
			"SENSORNODE_SYNTHETIC_SEED="+strconv.Itoa(n),
		)
	}
	env = append(env, KafkaEnv("KAFKA", d.Cluster.Edge, d.Backend)...)
	return d.spec(fmt.Sprintf("%s-%d", CameraProducer, n), CameraProducer, d.nodeAdmin(portCamera, n), env)
}

// TempProducerSpec starts node n's temperature producer on the simulated
// thermal source.
func (d *Deployment) TempProducerSpec(n int) Spec {
	env := []string{
		"SENSORNODE_NODE_ID=" + messages.NodeTopic(n),
		"SENSORNODE_TOPIC=" + d.LocalTempTopic(),
		"SENSORNODE_SOURCE=synthetic",
		"SENSORNODE_READ_INTERVAL=" + d.TempInterval.String(),
	}
	env = append(env, KafkaEnv("KAFKA", d.Cluster.Edge, d.Backend)...)
	return d.spec(fmt.Sprintf("%s-%d", TempProducer, n), TempProducer, d.nodeAdmin(portTemp, n), env)
}

// ForwarderSpec starts the edge forwarder.
func (d *Deployment) ForwarderSpec() Spec {
	env := []string{
		"SENSORNODE_EDGE_KAFKA_GROUP_ID=" + d.Prefix + EdgeForwarder,
		"SENSORNODE_PICTURE_TOPICS=" + d.NodeTopicPattern(),
		"SENSORNODE_TEMPERATURE_TOPICS=" + d.LocalTempTopic(),
		"SENSORNODE_CLOUD_PICTURE_TOPIC=" + d.CloudCameraTopic(),
		"SENSORNODE_CLOUD_TEMPERATURE_TOPIC=" + d.CloudTempTopic(),
	}
	env = append(env, KafkaEnv("EDGE_KAFKA", d.Cluster.Edge, d.Backend)...)
	env = append(env, KafkaEnv("CLOUD_KAFKA", d.Cluster.Cloud, d.Backend)...)
	return d.spec(EdgeForwarder, EdgeForwarder, d.admin(portForwarder), env)
}

// ExtraForwarderSpec is a second edge-forwarder instance (own name,
// consumer group and topics) for measurements that must not disturb the
// pipeline's own forwarder: it forwards edgeTopic to cloudTopic.
func (d *Deployment) ExtraForwarderSpec(name, group, edgeTopic, cloudTopic, tempTopic string) Spec {
	env := []string{
		"SENSORNODE_EDGE_KAFKA_GROUP_ID=" + group,
		"SENSORNODE_PICTURE_TOPICS=" + edgeTopic,
		"SENSORNODE_TEMPERATURE_TOPICS=" + tempTopic,
		"SENSORNODE_CLOUD_PICTURE_TOPIC=" + cloudTopic,
		"SENSORNODE_CLOUD_TEMPERATURE_TOPIC=" + d.CloudTempTopic(),
	}
	env = append(env, KafkaEnv("EDGE_KAFKA", d.Cluster.Edge, d.Backend)...)
	env = append(env, KafkaEnv("CLOUD_KAFKA", d.Cluster.Cloud, d.Backend)...)
	return d.spec(name, EdgeForwarder, d.admin(portExtra), env)
}

// IngestSpec starts cloud-ingest-hdfs.
func (d *Deployment) IngestSpec() Spec {
	env := []string{
		"SENSORNODE_CLOUD_KAFKA_GROUP_ID=" + d.Prefix + CloudIngest,
		"SENSORNODE_CLOUD_KAFKA_TOPICS=" + d.CloudCameraTopic() + "," + d.CloudTempTopic(),
		"SENSORNODE_HDFS_TMP_DIR=" + d.HDFSRoot + "/_tmp",
		"SENSORNODE_TEMPERATURE_ROTATE_INTERVAL=" + d.TemperatureRotate.String(),
	}
	if d.PictureStore != "" {
		env = append(env, "SENSORNODE_PICTURE_STORE="+d.PictureStore)
	}
	if d.BundleMaxAge > 0 {
		env = append(env, "SENSORNODE_PICTURE_BUNDLE_MAX_AGE="+d.BundleMaxAge.String())
	}
	if d.BundleMaxBytes > 0 {
		env = append(env, "SENSORNODE_PICTURE_BUNDLE_MAX_BYTES="+strconv.FormatInt(d.BundleMaxBytes, 10))
	}
	env = append(env, d.hdfsEnv()...)
	env = append(env, KafkaEnv("CLOUD_KAFKA", d.Cluster.Cloud, d.Backend)...)
	return d.spec(CloudIngest, CloudIngest, d.admin(portIngest), env)
}

// hdfsEnv is where cloud-ingest-hdfs writes and the viewer reads: the
// NameNodes, the user and the layouts (the same variable names in both).
func (d *Deployment) hdfsEnv() []string {
	layout := d.PictureDir() + "/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"
	if d.FlatPictures {
		layout = d.PictureDir() + "/{camera}/{key}.jpg"
	}
	return []string{
		"SENSORNODE_HDFS_NAMENODE_ADDR=" + strings.Join(d.Cluster.NameNodes, ","),
		"SENSORNODE_HDFS_USER=" + d.Cluster.HDFSUser,
		"SENSORNODE_PICTURE_LAYOUT=" + layout,
		"SENSORNODE_PICTURE_BUNDLE_DIR=" + d.BundleDir(),
		"SENSORNODE_TEMPERATURE_DIR_LAYOUT=" + d.TemperatureDir() + "/{node}/{yyyy}/{MM}/{dd}/{HH}",
	}
}

// ViewerConfig is how the web viewer runs: where it serves its pages, who may
// log in, and whose metrics its pipeline page scrapes.
type ViewerConfig struct {
	// Addr is host:port of the pages.
	Addr string
	// UsersFile holds htpasswd lines (user:bcrypt hash).
	UsersFile string
	// ThumbDir caches thumbnails.
	ThumbDir string
	// MetricsTargets are admin addresses (host:port) of the services.
	MetricsTargets []string
	// ZooKeeper is the ensemble with the fleet's master view ("" none).
	ZooKeeper string
}

// ViewerSpec starts the web viewer on the pictures and readings
// cloud-ingest-hdfs stores.
func (d *Deployment) ViewerSpec(v ViewerConfig) Spec {
	env := []string{
		"SENSORNODE_VIEWER_ADDR=" + v.Addr,
		"SENSORNODE_VIEWER_USERS_FILE=" + v.UsersFile,
		"SENSORNODE_VIEWER_THUMB_DIR=" + v.ThumbDir,
		"SENSORNODE_VIEWER_METRICS_TARGETS=" + strings.Join(v.MetricsTargets, ","),
	}
	if v.ZooKeeper != "" {
		env = append(env, "SENSORNODE_ZOOKEEPER_SERVERS="+v.ZooKeeper)
	}
	env = append(env, d.hdfsEnv()...)
	return d.spec(Viewer, Viewer, d.admin(portViewer), env)
}

// PictureKeyFromPath extracts the picture key from an HDFS file name of
// either layout: "<key>.jpg" or "<HHMMSS>-<key>.jpg".
func PictureKeyFromPath(p string) (string, bool) {
	base := filepath.Base(p)
	if !strings.HasSuffix(base, ".jpg") {
		return "", false
	}
	base = strings.TrimSuffix(base, ".jpg")
	// The dated layout's "HHMMSS-" prefix would otherwise pass for part of
	// the camera id, so it is tried first.
	if hms, rest, ok := strings.Cut(base, "-"); ok && len(hms) == 6 && strings.Trim(hms, "0123456789") == "" {
		if _, _, err := messages.ParsePictureKey(rest); err == nil {
			return rest, true
		}
	}
	if _, _, err := messages.ParsePictureKey(base); err == nil {
		return base, true
	}
	return "", false
}
