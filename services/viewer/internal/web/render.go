package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"
)

// pageTemplate is one page parsed with the shared layout.
type pageTemplate struct{ t *template.Template }

// pageNames are the templates in templates/ besides layout.html.
var pageNames = []string{"login", "wall", "days", "hours", "hour", "picture", "nodes", "temperature", "pipeline", "error"}

func parsePages(static func(string) string) (map[string]*pageTemplate, error) {
	funcs := template.FuncMap{
		"static": static,
		"utc":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"date":   func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"hh":     func(t time.Time) string { return t.UTC().Format("15") },
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"num":    formatNum,
	}
	out := map[string]*pageTemplate{}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		out[n] = &pageTemplate{t: t}
	}
	return out, nil
}

// formatNum prints a figure, "–" for NaN (not known).
func formatNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// view is what every page template gets.
type view struct {
	Title string
	User  string
	CSRF  string
	Auth  string
	Data  any
}

// render executes page into a buffer, then sends it (so a template error
// becomes a clean 500). Pages are never cached.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, data any) {
	u := userOf(r)
	var b bytes.Buffer
	if err := s.pages[name].t.Execute(&b, view{Title: title, User: u.User, CSRF: u.CSRF, Auth: s.opt.Auth, Data: data}); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}

// fail answers with an error page (a short message, never internals).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.render(w, r, code, "error", http.StatusText(code), struct {
		Code    int
		Message string
	}{code, msg})
}

// staticFile is an embedded asset with its content hash.
type staticFile struct {
	data  []byte
	ctype string
	hash  string
}

func loadStatic() (map[string]staticFile, error) {
	out := map[string]staticFile{}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[path.Base(p)] = staticFile{data: b, ctype: mime.TypeByExtension(path.Ext(p)), hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	return out, err
}

// staticURL is an asset's URL with its content hash, so it can be cached
// for good.
func (s *Server) staticURL(name string) string {
	return "/static/" + name + "?v=" + s.static[name].hash
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := s.static[r.PathValue("file")]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	h := w.Header()
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	h.Set("ETag", `"`+f.hash+`"`)
	if f.ctype != "" {
		h.Set("Content-Type", f.ctype)
	}
	if etagMatch(r, `"`+f.hash+`"`) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(f.data)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.data)
	}
}
