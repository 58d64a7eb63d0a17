// Package viewer is the viewer service: configuration, wiring of the HDFS
// store, the health source and the web server, and the run loop.
package viewer

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/sensornode/sensornode/libs/svc"
	"github.com/sensornode/sensornode/services/viewer/internal/health"
	"github.com/sensornode/sensornode/services/viewer/internal/store"
	"github.com/sensornode/sensornode/services/viewer/internal/web"
)

// Name is the service name.
const Name = "viewer"

// HDFSConfig says how to reach HDFS (the names cloud-ingest-hdfs uses).
type HDFSConfig struct {
	// NameNodes are NameNode RPC addresses (several for HA).
	NameNodes []string `envconfig:"NAMENODE_ADDR" default:"127.0.0.1:8020"`
	User      string   `envconfig:"USER" default:"sensornode"`
}

// Config is the viewer configuration, read from SENSORNODE_* environment
// variables.
type Config struct {
	svc.Common

	// Addr is the web listener; loopback unless configured.
	Addr string `envconfig:"VIEWER_ADDR" default:"127.0.0.1:8090"`
	// Auth is users (a users file and a login form), proxy (a trusted
	// authenticating proxy names the user) or none (anyone: development
	// only, logged as a warning).
	Auth string `envconfig:"VIEWER_AUTH" default:"users"`
	// UsersFile holds `user:bcrypt-hash` lines (htpasswd -B, or
	// `viewer hash-password`).
	UsersFile string `envconfig:"VIEWER_USERS_FILE"`
	// CookieSecure sets the Secure flag of the cookies. Browsers accept
	// Secure cookies from http://localhost and http://127.0.0.1 too.
	CookieSecure bool `envconfig:"VIEWER_COOKIE_SECURE" default:"true"`
	// SessionIdleTimeout ends a session without requests; SessionMaxAge
	// ends it anyway, that long after the login.
	SessionIdleTimeout time.Duration `envconfig:"VIEWER_SESSION_IDLE_TIMEOUT" default:"1h"`
	SessionMaxAge      time.Duration `envconfig:"VIEWER_SESSION_MAX_AGE" default:"12h"`
	// MaxSessions bounds the server-side sessions; the least recently used
	// one is dropped beyond it.
	MaxSessions int `envconfig:"VIEWER_MAX_SESSIONS" default:"1000"`
	// LoginBurst failed logins are allowed at once per client address and
	// per user name, then one more every LoginRefill.
	LoginBurst  int           `envconfig:"VIEWER_LOGIN_BURST" default:"5"`
	LoginRefill time.Duration `envconfig:"VIEWER_LOGIN_REFILL" default:"20s"`
	// TrustedProxies are addresses or CIDR prefixes of reverse proxies
	// whose X-Forwarded-For (and with SENSORNODE_VIEWER_AUTH=proxy,
	// ProxyUserHeader) are believed.
	TrustedProxies  []string `envconfig:"VIEWER_TRUSTED_PROXIES"`
	ProxyUserHeader string   `envconfig:"VIEWER_PROXY_USER_HEADER" default:"X-Forwarded-User"`
	// WallRefresh is how often the wall fetches the latest pictures.
	WallRefresh time.Duration `envconfig:"VIEWER_WALL_REFRESH" default:"10s"`
	// MaxRange bounds a temperature chart's range.
	MaxRange time.Duration `envconfig:"VIEWER_MAX_RANGE" default:"744h"`

	HDFS HDFSConfig `envconfig:"HDFS"`
	// PictureLayout and TemperatureDirLayout are cloud-ingest-hdfs's.
	PictureLayout        string `envconfig:"PICTURE_LAYOUT" default:"/sensornode/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg"`
	TemperatureDirLayout string `envconfig:"TEMPERATURE_DIR_LAYOUT" default:"/sensornode/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}"`
	// PictureBundleDir is cloud-ingest-hdfs's bundle store: read beside
	// the file store when it exists, both shown merged ("": not read).
	PictureBundleDir string `envconfig:"PICTURE_BUNDLE_DIR" default:"/sensornode/bundles"`
	// BundleLookahead: a picture captured in hour H is looked for in the
	// bundle hour directories (its ingest hour) H .. H+BundleLookahead; one
	// ingested later than that after its capture is not listed.
	BundleLookahead time.Duration `envconfig:"VIEWER_BUNDLE_LOOKAHEAD" default:"2h"`
	// MaxPictureBytes: a larger stored file is refused, not read.
	MaxPictureBytes int64 `envconfig:"MAX_PICTURE_BYTES" default:"16777216"`
	// ListingTTL is how long a listing of the current hour or day is
	// reused; ListingCacheEntries bounds the cached listings.
	ListingTTL          time.Duration `envconfig:"VIEWER_LISTING_TTL" default:"10s"`
	ListingCacheEntries int           `envconfig:"VIEWER_LISTING_CACHE_ENTRIES" default:"1024"`
	// ThumbDir keeps thumbnails (an emptyDir; "" keeps none on disk),
	// at most ThumbMaxBytes, ThumbWidth pixels wide.
	ThumbDir      string `envconfig:"VIEWER_THUMB_DIR"`
	ThumbMaxBytes int64  `envconfig:"VIEWER_THUMB_MAX_BYTES" default:"268435456"`
	ThumbWidth    int    `envconfig:"VIEWER_THUMB_WIDTH" default:"320"`

	// PrometheusURL is a Prometheus server scraping the services; without
	// it MetricsTargets (host:port of admin endpoints) are scraped.
	PrometheusURL  string   `envconfig:"PROMETHEUS_URL"`
	MetricsTargets []string `envconfig:"VIEWER_METRICS_TARGETS"`
	// ZooKeeperServers and ZooKeeperViewPath are master-watcher's: the
	// fleet's master view ("" servers: none).
	ZooKeeperServers  []string `envconfig:"ZOOKEEPER_SERVERS"`
	ZooKeeperViewPath string   `envconfig:"ZOOKEEPER_VIEW_PATH" default:"/sensornode/masters"`
	// HealthTimeout bounds one health query; HealthCacheFor reuses a
	// snapshot.
	HealthTimeout  time.Duration `envconfig:"VIEWER_HEALTH_TIMEOUT" default:"5s"`
	HealthCacheFor time.Duration `envconfig:"VIEWER_HEALTH_CACHE_FOR" default:"15s"`
	// CheckInterval is how often HDFS is checked for readiness.
	CheckInterval time.Duration `envconfig:"CHECK_INTERVAL" default:"10s"`
}

// DefaultConfig is the configuration before the environment is applied.
func DefaultConfig() Config {
	return Config{Common: svc.DefaultCommon(":9106")}
}

// Validate checks the configuration, reporting every problem at once.
func (c *Config) Validate() error {
	var p svc.Problems
	c.Common.Check(&p)
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		p.Addf("SENSORNODE_VIEWER_ADDR %q is not host:port", c.Addr)
	}
	switch c.Auth {
	case web.AuthUsers:
		if c.UsersFile == "" {
			p.Addf("SENSORNODE_VIEWER_USERS_FILE is empty: make one with `viewer hash-password USER`, " +
				"or set SENSORNODE_VIEWER_AUTH=proxy (behind an authenticating proxy) or none (no authentication at all)")
		}
	case web.AuthProxy:
		if len(c.TrustedProxies) == 0 {
			p.Addf("SENSORNODE_VIEWER_AUTH=proxy needs SENSORNODE_VIEWER_TRUSTED_PROXIES")
		}
		if strings.TrimSpace(c.ProxyUserHeader) == "" {
			p.Addf("SENSORNODE_VIEWER_PROXY_USER_HEADER is empty")
		}
	case web.AuthNone:
	default:
		p.Addf("SENSORNODE_VIEWER_AUTH %q: want %s, %s or %s", c.Auth, web.AuthUsers, web.AuthProxy, web.AuthNone)
	}
	if _, err := c.trustedProxies(); err != nil {
		p.Addf("SENSORNODE_VIEWER_TRUSTED_PROXIES: %v", err)
	}
	if c.MaxSessions < 1 || c.LoginBurst < 1 || c.ListingCacheEntries < 1 || c.ThumbWidth < 16 {
		p.Addf("SENSORNODE_VIEWER_MAX_SESSIONS, _LOGIN_BURST, _LISTING_CACHE_ENTRIES must be positive and _THUMB_WIDTH at least 16")
	}
	if c.ThumbMaxBytes < 0 {
		p.Addf("SENSORNODE_VIEWER_THUMB_MAX_BYTES %d is negative", c.ThumbMaxBytes)
	}
	if c.MaxPictureBytes < 1024 {
		p.Addf("SENSORNODE_MAX_PICTURE_BYTES %d < 1024", c.MaxPictureBytes)
	}
	if len(c.HDFS.NameNodes) == 0 {
		p.Addf("SENSORNODE_HDFS_NAMENODE_ADDR is empty")
	}
	for _, a := range c.HDFS.NameNodes {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.Addf("SENSORNODE_HDFS_NAMENODE_ADDR %q is not host:port", a)
		}
	}
	if c.HDFS.User == "" {
		p.Addf("SENSORNODE_HDFS_USER is empty")
	}
	if !strings.Contains(c.PictureLayout, "{key}") {
		p.Addf("SENSORNODE_PICTURE_LAYOUT %q has no {key}", c.PictureLayout)
	}
	if c.PictureBundleDir != "" && (!path.IsAbs(c.PictureBundleDir) || path.Clean(c.PictureBundleDir) == "/") {
		p.Addf("SENSORNODE_PICTURE_BUNDLE_DIR %q must be an absolute directory below /", c.PictureBundleDir)
	}
	if !strings.Contains(c.TemperatureDirLayout, "{node}") {
		p.Addf("SENSORNODE_TEMPERATURE_DIR_LAYOUT %q has no {node}", c.TemperatureDirLayout)
	}
	if c.PrometheusURL != "" {
		if u, err := url.Parse(c.PrometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("SENSORNODE_PROMETHEUS_URL %q: want http(s)://host:port", c.PrometheusURL)
		}
	}
	for _, t := range c.MetricsTargets {
		if _, _, err := net.SplitHostPort(t); err != nil {
			p.Addf("SENSORNODE_VIEWER_METRICS_TARGETS entry %q is not host:port", t)
		}
	}
	p.Positive(map[string]time.Duration{
		"SENSORNODE_VIEWER_SESSION_IDLE_TIMEOUT": c.SessionIdleTimeout,
		"SENSORNODE_VIEWER_SESSION_MAX_AGE":      c.SessionMaxAge,
		"SENSORNODE_VIEWER_LOGIN_REFILL":         c.LoginRefill,
		"SENSORNODE_VIEWER_WALL_REFRESH":         c.WallRefresh,
		"SENSORNODE_VIEWER_MAX_RANGE":            c.MaxRange,
		"SENSORNODE_VIEWER_LISTING_TTL":          c.ListingTTL,
		"SENSORNODE_VIEWER_BUNDLE_LOOKAHEAD":     c.BundleLookahead,
		"SENSORNODE_VIEWER_HEALTH_TIMEOUT":       c.HealthTimeout,
		"SENSORNODE_VIEWER_HEALTH_CACHE_FOR":     c.HealthCacheFor,
		"SENSORNODE_CHECK_INTERVAL":              c.CheckInterval,
	})
	return p.Err()
}

// trustedProxies parses TrustedProxies: addresses or CIDR prefixes.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if pf, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pf.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// StoreConfig is the store's part.
func (c *Config) StoreConfig() store.Config {
	return store.Config{
		PictureLayout: c.PictureLayout, TemperatureDirLayout: c.TemperatureDirLayout,
		ListingTTL: c.ListingTTL, ListingCacheEntries: c.ListingCacheEntries,
		ThumbDir: c.ThumbDir, ThumbMaxBytes: c.ThumbMaxBytes, ThumbWidth: c.ThumbWidth,
		MaxPictureBytes:  c.MaxPictureBytes,
		PictureBundleDir: c.PictureBundleDir, BundleLookahead: c.BundleLookahead,
	}
}

// HealthConfig is the health source's part.
func (c *Config) HealthConfig() health.Config {
	return health.Config{
		PrometheusURL: c.PrometheusURL, MetricsTargets: c.MetricsTargets,
		ZooKeeperServers: c.ZooKeeperServers, ZooKeeperView: c.ZooKeeperViewPath,
		Timeout: c.HealthTimeout, CacheFor: c.HealthCacheFor,
	}
}

// healthConfigured reports whether any health source is set.
func (c *Config) healthConfigured() bool {
	return c.PrometheusURL != "" || len(c.MetricsTargets) > 0 || len(c.ZooKeeperServers) > 0
}
