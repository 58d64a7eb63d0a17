package archive

// EncodeAvro is encodeAvro with a chosen sync marker, for goldens.
var EncodeAvro = encodeAvro
