package messages

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Thesis JSON date and time layouts.
const (
	jsonDateLayout = "20060102"
	jsonTimeLayout = "150405"
)

// JSONOptions tunes the JSON form on encode.
type JSONOptions struct {
	// Base64 encodes the picture. Nil means base64.RawURLEncoding, what the
	// original Java producer wrote (URL-safe, no padding).
	Base64 *base64.Encoding
}

// EncodePicture lays p out in form f. The picture must be valid (Validate
// with the default limit); the Kafka key is p.Key() in both forms. The JSON
// form keeps whole seconds only; the key has whole seconds too, so decoding
// either form gives back the same key.
func EncodePicture(p Picture, f Form) (Encoded, error) {
	return EncodePictureJSON(p, f, JSONOptions{})
}

// EncodePictureJSON is EncodePicture with JSON options.
func EncodePictureJSON(p Picture, f Form, o JSONOptions) (Encoded, error) {
	if err := p.Validate(0); err != nil {
		return Encoded{}, err
	}
	switch f {
	case FormBinary:
		return Encoded{
			Key:   []byte(p.Key()),
			Value: p.Data,
			Headers: []Header{
				{HeaderSchema, []byte(strconv.Itoa(SchemaVersion))},
				{HeaderKind, []byte(KindPicture)},
				{HeaderCamera, []byte(p.CameraID)},
				{HeaderNode, []byte(p.NodeID)},
				{HeaderTime, []byte(p.CapturedAt.UTC().Format(time.RFC3339Nano))},
				{HeaderContentType, []byte(ContentTypeJPEG)},
				{HeaderSHA256, []byte(hex.EncodeToString(p.SHA256[:]))},
			},
		}, nil
	case FormJSON:
		enc := o.Base64
		if enc == nil {
			enc = base64.RawURLEncoding
		}
		t := p.CapturedAt.UTC().Truncate(time.Second)
		id, _ := json.Marshal(p.CameraID) // a string always marshals
		n := enc.EncodedLen(len(p.Data))
		out := make([]byte, 0, len(id)+len(`{"id":,"date":"20060102","time":"150405","value":""}`)+n)
		out = append(out, `{"id":`...)
		out = append(out, id...)
		out = append(out, `,"date":"`...)
		out = t.AppendFormat(out, jsonDateLayout)
		out = append(out, `","time":"`...)
		out = t.AppendFormat(out, jsonTimeLayout)
		out = append(out, `","value":"`...)
		out = out[:len(out)+n]
		enc.Encode(out[len(out)-n:], p.Data)
		out = append(out, `"}`...)
		b := bytes.NewBuffer(out)
		return Encoded{Key: []byte(p.Key()), Value: b.Bytes()}, nil
	}
	return Encoded{}, fieldErr("form", ErrUnknownForm, "%v", f)
}

// DecodePicture decodes a picture in either form, detected by itself, and
// validates it (maxBytes as in CheckJPEG). Errors wrap this package's
// sentinels; it never panics.
func DecodePicture(value []byte, headers []Header, maxBytes int) (Picture, error) {
	form, err := Detect(value, headers)
	if err != nil {
		return Picture{}, err
	}
	if form == FormJSON {
		return decodePictureJSON(value, maxBytes)
	}
	if err := checkBinaryHeaders(headers, KindPicture); err != nil {
		return Picture{}, err
	}
	p := Picture{ContentType: ContentTypeJPEG, Data: value}
	cam, _ := HeaderValue(headers, HeaderCamera)
	p.CameraID = string(cam)
	node, _ := HeaderValue(headers, HeaderNode)
	p.NodeID = string(node)
	if p.CapturedAt, err = headerTime(headers); err != nil {
		return Picture{}, err
	}
	if ct, ok := HeaderValue(headers, HeaderContentType); ok && string(ct) != ContentTypeJPEG {
		return Picture{}, fieldErr(HeaderContentType, ErrBadField, "%q", ct)
	}
	if err := CheckJPEG(value, maxBytes); err != nil {
		return Picture{}, err
	}
	sum, ok := HeaderValue(headers, HeaderSHA256)
	if !ok {
		return Picture{}, fieldErr(HeaderSHA256, ErrMissingField, "")
	}
	if len(sum) != 64 {
		return Picture{}, fieldErr(HeaderSHA256, ErrBadField, "%d hex digits", len(sum))
	}
	if _, err := hex.Decode(p.SHA256[:], sum); err != nil {
		return Picture{}, fieldErr(HeaderSHA256, ErrBadField, "%v", err)
	}
	if sha256.Sum256(value) != p.SHA256 {
		return Picture{}, fieldErr("value", ErrChecksum, "sha256 of %d bytes differs from header", len(value))
	}
	if err := CheckID(HeaderCamera, p.CameraID); err != nil {
		return Picture{}, err
	}
	if err := checkOptionalID(HeaderNode, p.NodeID); err != nil {
		return Picture{}, err
	}
	return p, nil
}

func decodePictureJSON(value []byte, maxBytes int) (Picture, error) {
	obj, err := parseFlatObject(value)
	if err != nil {
		return Picture{}, err
	}
	var p Picture
	p.CameraID = obj["id"]
	if err := CheckID("id", p.CameraID); err != nil {
		return Picture{}, err
	}
	if p.CapturedAt, err = jsonTime(obj); err != nil {
		return Picture{}, err
	}
	b64, ok := obj["value"]
	if !ok {
		return Picture{}, fieldErr("value", ErrMissingField, "")
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxPictureBytes
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > maxBytes+3 {
		return Picture{}, fieldErr("value", ErrTooLarge, "%d base64 characters, limit %d bytes", len(b64), maxBytes)
	}
	if p.Data, err = decodeBase64(b64); err != nil {
		return Picture{}, err
	}
	if err := CheckJPEG(p.Data, maxBytes); err != nil {
		return Picture{}, err
	}
	p.ContentType = ContentTypeJPEG
	p.SHA256 = sha256.Sum256(p.Data)
	return p, nil
}

// decodeBase64 accepts standard and URL-safe alphabets, padded or not, and
// ignores line breaks (old Java encoders wrapped at 76 columns).
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n \t") {
		s = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, s)
	}
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, fieldErr("value", ErrEmpty, "empty base64")
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	out := make([]byte, enc.DecodedLen(len(s)))
	n, err := enc.Decode(out, []byte(s))
	if err != nil {
		return nil, fieldErr("value", ErrBadBase64, "%v", err)
	}
	return out[:n], nil
}

func jsonTime(obj map[string]string) (time.Time, error) {
	d, ok := obj["date"]
	if !ok {
		return time.Time{}, fieldErr("date", ErrMissingField, "")
	}
	t, ok := obj["time"]
	if !ok {
		return time.Time{}, fieldErr("time", ErrMissingField, "")
	}
	if len(d) != 8 || len(t) != 6 {
		return time.Time{}, fieldErr("date/time", ErrBadTime, "%q %q, want YYYYMMDD HHMMSS", d, t)
	}
	at, err := time.Parse(jsonDateLayout+jsonTimeLayout, d+t)
	if err != nil {
		return time.Time{}, fieldErr("date/time", ErrBadTime, "%q %q: %v", d, t, err)
	}
	return at, nil
}

func checkBinaryHeaders(headers []Header, want Kind) error {
	v, _ := HeaderValue(headers, HeaderSchema)
	if !supportedSchemas[string(v)] {
		return fieldErr(HeaderSchema, ErrUnknownSchema, "%q", v)
	}
	k, _ := HeaderValue(headers, HeaderKind)
	if Kind(k) != want {
		return fieldErr(HeaderKind, ErrWrongKind, "%q, want %q", k, want)
	}
	return nil
}

func headerTime(headers []Header) (time.Time, error) {
	v, ok := HeaderValue(headers, HeaderTime)
	if !ok {
		return time.Time{}, fieldErr(HeaderTime, ErrMissingField, "")
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return time.Time{}, fieldErr(HeaderTime, ErrBadTime, "%q", v)
	}
	return t.UTC(), nil
}

// EncodeTemperature lays r out in form f. The binary value is the reading as
// decimal text; the JSON form is {"id":node,"date":..,"time":..,
// "value":"48.3","source":..}, the picture's shape with the reading as value.
func EncodeTemperature(r TemperatureReading, f Form) (Encoded, error) {
	if err := r.Validate(); err != nil {
		return Encoded{}, err
	}
	val := strconv.FormatFloat(r.TemperatureCelsius, 'f', -1, 64)
	switch f {
	case FormBinary:
		return Encoded{
			Key:   []byte(r.Key()),
			Value: []byte(val),
			Headers: []Header{
				{HeaderSchema, []byte(strconv.Itoa(SchemaVersion))},
				{HeaderKind, []byte(KindTemperature)},
				{HeaderNode, []byte(r.NodeID)},
				{HeaderTime, []byte(r.ReadAt.UTC().Format(time.RFC3339Nano))},
				{HeaderContentType, []byte(ContentTypeText)},
				{HeaderSource, []byte(r.Source)},
			},
		}, nil
	case FormJSON:
		t := r.ReadAt.UTC()
		var b bytes.Buffer
		b.WriteString(`{"id":`)
		writeJSONString(&b, r.NodeID)
		b.WriteString(`,"date":"`)
		b.WriteString(t.Format(jsonDateLayout))
		b.WriteString(`","time":"`)
		b.WriteString(t.Format(jsonTimeLayout))
		b.WriteString(`","value":"`)
		b.WriteString(val)
		b.WriteString(`","source":`)
		writeJSONString(&b, r.Source)
		b.WriteString(`}`)
		return Encoded{Key: []byte(r.Key()), Value: b.Bytes()}, nil
	}
	return Encoded{}, fieldErr("form", ErrUnknownForm, "%v", f)
}

// DecodeTemperature decodes a reading in either form and validates it.
func DecodeTemperature(value []byte, headers []Header) (TemperatureReading, error) {
	form, err := Detect(value, headers)
	if err != nil {
		return TemperatureReading{}, err
	}
	var r TemperatureReading
	if form == FormJSON {
		obj, err := parseFlatObject(value)
		if err != nil {
			return r, err
		}
		r.NodeID = obj["id"]
		if r.ReadAt, err = jsonTime(obj); err != nil {
			return r, err
		}
		v, ok := obj["value"]
		if !ok {
			return r, fieldErr("value", ErrMissingField, "")
		}
		if r.TemperatureCelsius, err = parseCelsius(v); err != nil {
			return r, err
		}
		r.Source = obj["source"]
	} else {
		if err := checkBinaryHeaders(headers, KindTemperature); err != nil {
			return r, err
		}
		node, _ := HeaderValue(headers, HeaderNode)
		r.NodeID = string(node)
		if r.ReadAt, err = headerTime(headers); err != nil {
			return r, err
		}
		if r.TemperatureCelsius, err = parseCelsius(string(value)); err != nil {
			return r, err
		}
		src, _ := HeaderValue(headers, HeaderSource)
		r.Source = string(src)
	}
	if err := r.Validate(); err != nil {
		return TemperatureReading{}, err
	}
	return r, nil
}

func parseCelsius(s string) (float64, error) {
	c, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(c) || math.IsInf(c, 0) {
		return 0, fieldErr("value", ErrBadTemperature, "%q is not a number", truncate(s, 32))
	}
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
