package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// promAPI runs the queries against a Prometheus server's HTTP API
// (/api/v1/query, instant queries).
type promAPI struct {
	url    string
	client *http.Client
}

func (p *promAPI) name() string { return "prometheus " + p.url }
func (p *promAPI) kind() string { return "prometheus" }

func (p *promAPI) run(ctx context.Context, qs []query) ([][]series, []error) {
	out := make([][]series, len(qs))
	var errs []error
	for i, q := range qs {
		r, err := p.query(ctx, q.promQL())
		if err != nil {
			errs = append(errs, fmt.Errorf("prometheus query %s: %w", q.promQL(), err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		out[i] = r
	}
	return out, errs
}

// maxAnswer bounds a query's answer.
const maxAnswer = 8 << 20

// promResponse is the API's envelope with a vector result.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func (p *promAPI) query(ctx context.Context, q string) ([]series, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	var pr promResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		return nil, fmt.Errorf("HTTP %d: not an API answer: %w", resp.StatusCode, err)
	}
	if pr.Status != "success" {
		return nil, fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, pr.ErrorType, pr.Error)
	}
	if pr.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %q, want vector", pr.Data.ResultType)
	}
	out := make([]series, 0, len(pr.Data.Result))
	for _, r := range pr.Data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("value %v is not a string", r.Value[1])
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", s, err)
		}
		out = append(out, series{labels: r.Metric, value: v})
	}
	return out, nil
}
