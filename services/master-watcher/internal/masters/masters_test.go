package masters

import (
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		give    []string
		mode    Mode
		want    string // "index url addr" per master, joined by "; "
		wantErr string
	}{
		{name: "https URLs", give: []string{"https://10.0.0.1:6443", " https://10.0.0.2:6443 "}, mode: ModeHTTPS,
			want: "0 https://10.0.0.1:6443 10.0.0.1:6443; 1 https://10.0.0.2:6443 10.0.0.2:6443"},
		{name: "host:port in tcp mode, like the original nc", give: []string{"192.168.137.155:8080", "192.168.137.156:8080"}, mode: ModeTCP,
			want: "0 https://192.168.137.155:8080 192.168.137.155:8080; 1 https://192.168.137.156:8080 192.168.137.156:8080"},
		{name: "host:port in http mode", give: []string{"rpi-master-1:8080"}, mode: ModeHTTP, want: "0 http://rpi-master-1:8080 rpi-master-1:8080"},
		{name: "default port", give: []string{"https://master.local", "http://m2"}, mode: ModeTCP,
			want: "0 https://master.local:443 master.local:443; 1 http://m2:80 m2:80"},
		{name: "IPv6", give: []string{"https://[fd00::1]:6443"}, mode: ModeHTTPS, want: "0 https://[fd00::1]:6443 [fd00::1]:6443"},
		{name: "trailing slash", give: []string{"https://a:6443/"}, mode: ModeHTTPS, want: "0 https://a:6443 a:6443"},
		{name: "empty list", give: nil, mode: ModeTCP, wantErr: "no masters"},
		{name: "empty entry", give: []string{"a:1", ""}, mode: ModeTCP, wantErr: "master 1"},
		{name: "duplicate", give: []string{"https://a:6443", "a:6443"}, mode: ModeHTTPS, wantErr: "same address as master 0"},
		{name: "scheme mismatch", give: []string{"http://a:8080"}, mode: ModeHTTPS, wantErr: "does not match probe mode"},
		{name: "bad scheme", give: []string{"ftp://a:1"}, mode: ModeTCP, wantErr: "want http or https"},
		{name: "path", give: []string{"https://a:6443/api"}, mode: ModeHTTPS, wantErr: "no user, path or query"},
		{name: "no port", give: []string{"10.0.0.1"}, mode: ModeTCP, wantErr: "host:port"},
		{name: "bad port", give: []string{"a:99999"}, mode: ModeTCP, wantErr: "want 1..65535"},
		{name: "too many", give: strings.Split(strings.Repeat("a:1,", MaxMasters+1), ",")[:MaxMasters+1], mode: ModeTCP, wantErr: "at most 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := Parse(tt.give, tt.mode)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want %q", tt.give, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%d %s %s", m.Index, m.URL, m.Addr))
			}
			if g := strings.Join(got, "; "); g != tt.want {
				t.Errorf("Parse(%q) = %q, want %q", tt.give, g, tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for give, want := range map[string]Mode{"http": ModeHTTP, "HTTPS": ModeHTTPS, " tcp ": ModeTCP} {
		if got, err := ParseMode(give); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", give, got, err, want)
		}
	}
	if _, err := ParseMode("icmp"); err == nil {
		t.Errorf("ParseMode(icmp) = nil error")
	}
}
