# docker buildx bake -f images/docker-bake.hcl [target...]   (or: make images)
# One target per service, each for linux/amd64, linux/arm64 and linux/arm/v7.
# Push with --push (or set IMAGES_BAKE_FLAGS=--push for make images).

variable "REGISTRY" { default = "ghcr.io/sensornode" }
variable "TAG" { default = "dev" }
variable "VERSION" { default = "dev" }
variable "REVISION" { default = "unknown" }
variable "CREATED" { default = "" }
variable "PLATFORMS" { default = "linux/amd64,linux/arm64,linux/arm/v7" }

group "default" {
  targets = ["camera-producer", "temp-producer", "edge-forwarder", "cloud-ingest-hdfs", "master-watcher", "viewer"]
}

target "_service" {
  context    = "."
  dockerfile = "images/go-service.Dockerfile"
  platforms  = split(",", PLATFORMS)
}

target "camera-producer" {
  inherits = ["_service"]
  args     = { SERVICE = "camera-producer", VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
  tags     = ["${REGISTRY}/camera-producer:${TAG}"]
}

target "temp-producer" {
  inherits = ["_service"]
  args     = { SERVICE = "temp-producer", VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
  tags     = ["${REGISTRY}/temp-producer:${TAG}"]
}

target "edge-forwarder" {
  inherits = ["_service"]
  args     = { SERVICE = "edge-forwarder", VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
  tags     = ["${REGISTRY}/edge-forwarder:${TAG}"]
}

target "cloud-ingest-hdfs" {
  inherits = ["_service"]
  args     = { SERVICE = "cloud-ingest-hdfs", VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
  tags     = ["${REGISTRY}/cloud-ingest-hdfs:${TAG}"]
}

target "master-watcher" {
  inherits = ["_service"]
  args     = { SERVICE = "master-watcher", VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
  tags     = ["${REGISTRY}/master-watcher:${TAG}"]
}

target "viewer" {
  inherits = ["_service"]
  args     = { SERVICE = "viewer", VERSION = VERSION, REVISION = REVISION, CREATED = CREATED }
  tags     = ["${REGISTRY}/viewer:${TAG}"]
}
