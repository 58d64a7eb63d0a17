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
//
// # Identity
//
// Identity does not depend on the form a message arrived in, because the
// thesis JSON form carries the time to the second only:
//
//   - A picture is <camera>-<UTC capture second>-<16 hex of the SHA-256 of
//     the JPEG> (Picture.Key, e.g. "C1-20160517T140309Z-8b7929cbb28e96ae").
//     The hash is computable from both forms, so the same picture in both
//     forms has one key, and two different pictures of one camera within
//     one second have two.
//   - A reading is <node>|<UTC read second>|<source>|<value>
//     (TemperatureReading.Identity, the value as shortest decimal). The same
//     reading in both forms is one; readings within one second with
//     different values are distinct; two readings of one node and source in
//     one second with the same value are one (no form can tell them apart).
//
// Migration: before issue 11 the picture key kept milliseconds
// ("C1-20160517T140309.123Z-..." from the binary form, ".000Z" from JSON).
// LegacyPictureKey still computes it and ParsePictureKey still parses it. A
// store must treat a picture as present when it is stored under its new key
// or under a legacy key (the one from its own capture time, or the record's
// Kafka key when that is a well-formed legacy key of the same camera,
// second and hash), so a replay after the upgrade stores nothing twice.
// Reading identities are recomputed from stored readings, so they need no
// migration.
//
// # Ids
//
// Every id that may reach a path, a file name or a Kafka key (camera id,
// node id, temperature source) must pass CheckID: 1 to MaxIDLen (64) bytes
// of [A-Za-z0-9_.-], not starting with a dot. Decoders refuse anything else
// ("../", "/", "\", NUL, "%2F", non-ASCII, over-long) with a *FieldError
// wrapping ErrBadID, reason "bad-id".
package messages
