//go:build !(linux && cgo) || sensornode_nocamera

package capture

import "context"

// CameraBuilt reports whether the V4L2 source is in this binary.
const CameraBuilt = false

// OpenV4L2 always fails: this binary has no V4L2 source.
func OpenV4L2(context.Context, V4L2Config) (FrameSource, error) { return nil, ErrCameraNotBuilt }
