package hdfsjmx

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/sensornode/sensornode/libs/hdfsjmx/hdfsjmxtest"
	"github.com/sensornode/sensornode/libs/svc/svctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const query = "Hadoop:service=NameNode,name=FSNamesystemState"

func TestBean(t *testing.T) {
	type state struct {
		FSState          string
		NumLiveDataNodes int
	}
	tests := []struct {
		name    string
		status  int
		body    string
		want    state
		wantErr string
	}{
		{"first bean", 200, `{"beans":[{"name":"` + query + `","FSState":"Operational","NumLiveDataNodes":1,"BlocksTotal":3},{"FSState":"other"}]}`,
			state{"Operational", 1}, ""},
		{"no bean", 200, `{"beans":[]}`, state{}, "jmx " + query + ": no bean"},
		{"not json", 200, `<html>`, state{}, "invalid character"},
		{"attribute of another type", 200, `{"beans":[{"NumLiveDataNodes":"one"}]}`, state{}, "cannot unmarshal string"},
		{"error status", 500, ``, state{}, "jmx " + query + ": 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := hdfsjmxtest.Serve(t, func(q string) (int, string) {
				if q != query {
					return http.StatusNotFound, ""
				}
				return tt.status, tt.body
			})
			var got state
			err := Bean(context.Background(), http.DefaultClient, addr, query, &got)
			if svctest.Succeeds(t, "Bean()", err, tt.wantErr) && got != tt.want {
				t.Errorf("Bean() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBeanUnreachable(t *testing.T) {
	err := Bean(context.Background(), http.DefaultClient, svctest.FreeAddr(t), query, new(struct{}))
	if err == nil || !strings.Contains(err.Error(), "jmx "+query) {
		t.Errorf("Bean(nothing listening) = %v, want an error naming the query", err)
	}
}
