// Package messages is the one definition of what travels on every sensornode
// topic: motion pictures and CPU temperature readings, each in two forms.
//
//   - FormBinary (the default): the raw payload (JPEG bytes, or the reading as
//     decimal text) is the Kafka value; metadata travels in Kafka headers
//     (schema version, kind, camera/node id, capture time with sub-second
//     precision, content type and SHA-256 of the payload).
//   - FormJSON: the thesis-compatible JSON object
//     {"id":"C1","date":"YYYYMMDD","time":"HHMMSS","value":"<base64 JPEG>"}.
//
// Decoders detect the form by themselves. The package holds data and codecs
// only: no network, no environment, no flags.
package messages
