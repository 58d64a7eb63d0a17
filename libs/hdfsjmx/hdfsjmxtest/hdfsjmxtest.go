// Package hdfsjmxtest is a fake of an HDFS daemon's JMX JSON servlet, for
// the tests of code that reads beans from it (libs/hdfsjmx).
package hdfsjmxtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Serve starts a servlet that answers GET /jmx?qry=<query> with the status
// and body answer gives for the query (anything else: 404) and returns its
// address, host:port. It stops when the test ends.
func Serve(tb testing.TB, answer func(query string) (status int, body string)) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jmx" || !r.URL.Query().Has("qry") {
			http.NotFound(w, r)
			return
		}
		status, body := answer(r.URL.Query().Get("qry"))
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
