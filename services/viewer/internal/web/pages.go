package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/services/viewer/internal/health"
	"github.com/sensornode/sensornode/services/viewer/internal/store"
)

// storeErr answers a failed store call: 404 for what does not exist, 503
// when the store could not be read (the details go to the log only).
func (s *Server) storeErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, "not found")
	case r.Context().Err() != nil:
		// the client went away
	default:
		s.log.Error("store", "what", what, "path", r.URL.Path, "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "the picture and reading store did not answer; try again later")
	}
}

// tile is one camera on the wall (also the JSON of /api/wall).
type tile struct {
	Camera  string    `json:"camera"`
	Link    string    `json:"link"`
	Key     string    `json:"key,omitempty"`
	Thumb   string    `json:"thumb,omitempty"`
	Alt     string    `json:"alt,omitempty"`
	Caption string    `json:"caption"`
	Taken   time.Time `json:"taken,omitzero"`
}

type wallData struct {
	Tiles   []tile    `json:"tiles"`
	Refresh int       `json:"refresh"` // seconds
	Taken   time.Time `json:"-"`
}

// maxWallLookups bounds the concurrent Latest calls of one wall.
const maxWallLookups = 8

func (s *Server) wallTiles(ctx context.Context) (wallData, error) {
	cams, err := s.opt.Pictures.Cameras(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return wallData{}, err
	}
	tiles := make([]tile, 0, len(cams))
	for _, c := range cams {
		if checkID(c) {
			tiles = append(tiles, tile{Camera: c, Link: "/camera/" + c})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxWallLookups)
	for i := range tiles {
		t := &tiles[i]
		g.Go(func() error {
			p, err := s.opt.Pictures.Latest(gctx, t.Camera)
			switch {
			case errors.Is(err, store.ErrNotFound):
				t.Caption = t.Camera + ": no picture yet"
			case err != nil:
				s.log.Warn("latest picture", "camera", t.Camera, "err", err)
				t.Caption = t.Camera + ": not available"
			case !checkKey(t.Camera, p.Key):
				t.Caption = t.Camera + ": not available"
			default:
				taken := p.Taken.UTC().Format("2006-01-02 15:04:05 UTC")
				t.Key, t.Taken = p.Key, p.Taken.UTC()
				t.Thumb = "/thumb/" + t.Camera + "/" + p.Key + ".jpg"
				t.Alt = "Latest picture of camera " + t.Camera + ", taken " + taken
				t.Caption = t.Camera + " · " + taken
			}
			return nil
		})
	}
	_ = g.Wait()
	return wallData{Tiles: tiles, Refresh: int(s.opt.WallRefresh / time.Second), Taken: s.now().UTC()}, nil
}

func (s *Server) wall(w http.ResponseWriter, r *http.Request) {
	d, err := s.wallTiles(r.Context())
	if err != nil {
		s.storeErr(w, r, "cameras", err)
		return
	}
	s.render(w, r, http.StatusOK, "wall", "Latest pictures", d)
}

func (s *Server) wallJSON(w http.ResponseWriter, r *http.Request) {
	d, err := s.wallTiles(r.Context())
	if err != nil {
		s.log.Error("store", "what", "cameras", "err", err)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, `{"error":"store not available"}`, http.StatusServiceUnavailable)
		return
	}
	b, _ := json.Marshal(d)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

type daysData struct {
	Camera string
	Days   []time.Time
}

func (s *Server) cameraDays(w http.ResponseWriter, r *http.Request) {
	cam := r.PathValue("camera")
	if !checkID(cam) {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	days, err := s.opt.Pictures.Days(r.Context(), cam)
	if err != nil {
		s.storeErr(w, r, "days", err)
		return
	}
	s.render(w, r, http.StatusOK, "days", "Camera "+cam, daysData{Camera: cam, Days: days})
}

type hoursData struct {
	Camera string
	Day    time.Time
	Hours  []store.HourCount
	Total  int
}

func (s *Server) cameraHours(w http.ResponseWriter, r *http.Request) {
	cam := r.PathValue("camera")
	day, ok := parseDay(r.PathValue("day"))
	if !checkID(cam) || !ok {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	hours, err := s.opt.Pictures.Hours(r.Context(), cam, day)
	if err != nil {
		s.storeErr(w, r, "hours", err)
		return
	}
	d := hoursData{Camera: cam, Day: day, Hours: hours}
	for _, h := range hours {
		d.Total += h.Count
	}
	s.render(w, r, http.StatusOK, "hours", "Camera "+cam+", "+day.Format("2006-01-02"), d)
}

type hourData struct {
	Camera   string
	Hour     time.Time
	Pictures []store.Picture
}

func (s *Server) cameraHour(w http.ResponseWriter, r *http.Request) {
	cam := r.PathValue("camera")
	day, okDay := parseDay(r.PathValue("day"))
	hh, okHour := parseHour(r.PathValue("hour"))
	if !checkID(cam) || !okDay || !okHour {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	hour := day.Add(time.Duration(hh) * time.Hour)
	pics, err := s.opt.Pictures.Hour(r.Context(), cam, hour)
	if err != nil {
		s.storeErr(w, r, "hour", err)
		return
	}
	pics = safePictures(cam, pics)
	s.render(w, r, http.StatusOK, "hour", "Camera "+cam+", "+hour.Format("2006-01-02 15:00 UTC"),
		hourData{Camera: cam, Hour: hour, Pictures: pics})
}

// safePictures drops what the store listed that is not a key of camera
// (it would make links the picture routes refuse).
func safePictures(cam string, pics []store.Picture) []store.Picture {
	out := pics[:0:0]
	for _, p := range pics {
		if checkKey(cam, p.Key) {
			out = append(out, p)
		}
	}
	return out
}

type pictureData struct {
	Camera     string
	Picture    store.Picture
	Prev, Next string // keys in the same hour, "" none
}

// picturePage finds the picture in its hour's listing (cached by the
// store; 404 when absent) for its neighbours.
func (s *Server) picturePage(w http.ResponseWriter, r *http.Request) {
	cam, key := r.PathValue("camera"), r.PathValue("key")
	if !checkKey(cam, key) {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	_, taken, _ := messages.ParsePictureKey(key)
	pics, err := s.opt.Pictures.Hour(r.Context(), cam, taken.UTC().Truncate(time.Hour))
	if err != nil {
		s.storeErr(w, r, "hour", err)
		return
	}
	pics = safePictures(cam, pics)
	for i, p := range pics {
		if p.Key != key {
			continue
		}
		d := pictureData{Camera: cam, Picture: p}
		if i > 0 {
			d.Prev = pics[i-1].Key
		}
		if i+1 < len(pics) {
			d.Next = pics[i+1].Key
		}
		s.render(w, r, http.StatusOK, "picture", "Camera "+cam+", "+p.Taken.UTC().Format("2006-01-02 15:04:05 UTC"), d)
		return
	}
	s.fail(w, r, http.StatusNotFound, "not found")
}

// immutable sets the caching headers of a picture or thumbnail (its key
// names its content for good) and reports whether the client has it
// already (the 304 is sent).
func immutable(w http.ResponseWriter, r *http.Request, key string) bool {
	etag := `"` + key + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	if etagMatch(r, etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

// etagMatch reports whether If-None-Match lists etag (or is *).
func etagMatch(r *http.Request, etag string) bool {
	for _, v := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == etag || t == "*" {
				return true
			}
		}
	}
	return false
}

func (s *Server) picture(w http.ResponseWriter, r *http.Request) {
	s.serveImage(w, r, "picture", func(ctx context.Context, cam, key string) (io.ReadCloser, int64, error) {
		rc, p, err := s.opt.Pictures.Open(ctx, cam, key)
		return rc, p.Size, err
	})
}

func (s *Server) thumb(w http.ResponseWriter, r *http.Request) {
	s.serveImage(w, r, "thumbnail", func(ctx context.Context, cam, key string) (io.ReadCloser, int64, error) {
		b, err := s.opt.Pictures.Thumbnail(ctx, cam, key)
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), err
	})
}

// serveImage sends the JPEG that load gives for the request's camera and
// key (size 0: unknown), checked first, with immutable caching.
func (s *Server) serveImage(w http.ResponseWriter, r *http.Request, what string,
	load func(ctx context.Context, cam, key string) (io.ReadCloser, int64, error)) {
	cam := r.PathValue("camera")
	key := keyOfFile(cam, r.PathValue("file"))
	if key == "" {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	if immutable(w, r, key) {
		return
	}
	rc, size, err := load(r.Context(), cam, key)
	if err != nil {
		w.Header().Del("ETag")
		w.Header().Set("Cache-Control", "no-store")
		s.storeErr(w, r, what, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	if size > 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		s.log.Warn("send "+what, "camera", cam, "key", key, "err", err)
	}
}

func (s *Server) temperatureNodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.opt.Temperatures.Nodes(r.Context())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.storeErr(w, r, "nodes", err)
		return
	}
	var safe []string
	for _, n := range nodes {
		if checkID(n) {
			safe = append(safe, n)
		}
	}
	s.render(w, r, http.StatusOK, "nodes", "Temperature", safe)
}

type temperatureData struct {
	Node     string
	From, To time.Time
	Chart    chart
	Error    string
}

func (s *Server) temperature(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("node")
	if !checkID(node) {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	to := s.now().UTC().Truncate(time.Minute).Add(time.Minute)
	from := to.Add(-24 * time.Hour)
	q := r.URL.Query()
	d := temperatureData{Node: node}
	if v := q.Get("from"); v != "" {
		t, ok := parseRangeTime(v)
		if !ok {
			d.Error = "from: want a time like 2026-01-02T15:04:05Z"
		}
		from = t
	}
	if v := q.Get("to"); v != "" {
		t, ok := parseRangeTime(v)
		if !ok {
			d.Error = "to: want a time like 2026-01-02T15:04:05Z"
		}
		to = t
	}
	switch {
	case d.Error != "":
	case !from.Before(to):
		d.Error = "from must be before to"
	case to.Sub(from) > s.opt.MaxRange:
		d.Error = "the range may span at most " + s.opt.MaxRange.String()
	}
	d.From, d.To = from, to
	if d.Error != "" {
		s.render(w, r, http.StatusBadRequest, "temperature", "Temperature of "+node, d)
		return
	}
	readings, err := s.opt.Temperatures.Readings(r.Context(), node, from, to)
	if err != nil {
		s.storeErr(w, r, "readings", err)
		return
	}
	d.Chart = buildChart(node, readings, from, to)
	s.render(w, r, http.StatusOK, "temperature", "Temperature of "+node, d)
}

type pipelineData struct {
	Configured bool
	Error      string
	Snap       health.Snapshot
}

func (s *Server) pipeline(w http.ResponseWriter, r *http.Request) {
	if s.opt.Health == nil {
		s.render(w, r, http.StatusOK, "pipeline", "Pipeline", pipelineData{})
		return
	}
	snap, err := s.opt.Health.Snapshot(r.Context())
	if err != nil {
		s.log.Warn("health snapshot", "err", err)
		s.render(w, r, http.StatusServiceUnavailable, "pipeline", "Pipeline",
			pipelineData{Configured: true, Error: "no health source could be read; try again later"})
		return
	}
	s.render(w, r, http.StatusOK, "pipeline", "Pipeline", pipelineData{Configured: true, Snap: snap})
}
