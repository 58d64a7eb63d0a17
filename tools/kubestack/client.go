package kubestack

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Client is a small JSON client of the API server's REST API with the
// admin certificate (the repository has no client-go).
type Client struct {
	server string
	hc     *http.Client
}

// APIError is a non-2xx answer of the API server.
type APIError struct {
	Method, Path string
	StatusCode   int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.StatusCode, e.Body)
}

// IsNotFound tells whether err is a 404 of the API server.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

func (s *Stack) tlsConfig() (*tls.Config, error) {
	dir := filepath.Join(s.dir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no CA certificate in pki/ca.crt")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Client returns a client of master 1's API server as cluster admin.
func (s *Stack) Client() (*Client, error) { return s.MasterClient(1) }

// MasterClient returns a client of master i's API server (1..Masters) as
// cluster admin.
func (s *Stack) MasterClient(i int) (*Client, error) {
	if i < 1 || i > Masters {
		return nil, fmt.Errorf("no master %d", i)
	}
	return s.clientOf(s.MasterServer(i))
}

// clientOf is a cluster-admin client of server.
func (s *Stack) clientOf(server string) (*Client, error) {
	tc, err := s.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &Client{server: server, hc: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc},
	}}, nil
}

// Get decodes the object at path (e.g. /api/v1/nodes) into out (nil:
// only the status counts).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Do sends in as JSON (when not nil) and decodes the answer into out
// (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	if in == nil {
		return c.do(ctx, method, path, "", nil, out)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, "application/json", b, out)
}

// MergePatch applies a JSON merge patch (RFC 7386) to the object at path.
func (c *Client) MergePatch(ctx context.Context, path string, patch any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPatch, path, "application/merge-patch+json", b, nil)
}

// Apply is a server-side apply of obj (JSON or YAML) at path, the object's
// own path, as field manager manager; dryRun has the API server validate,
// default and admit it without storing it. Field validation is Strict: a
// field the type's schema (a CRD's OpenAPI schema included) does not know,
// or a duplicate one, is an error rather than a warning and a silent drop.
func (c *Client) Apply(ctx context.Context, path, manager string, obj []byte, dryRun bool) error {
	q := url.Values{"fieldManager": {manager}, "force": {"true"}, "fieldValidation": {"Strict"}}
	if dryRun {
		q.Set("dryRun", "All")
	}
	return c.do(ctx, http.MethodPatch, path+"?"+q.Encode(), "application/apply-patch+yaml", obj, nil)
}

func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}
