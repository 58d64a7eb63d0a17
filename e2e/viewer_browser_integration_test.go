//go:build integration

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sensornode/sensornode/libs/bundle"
	"github.com/sensornode/sensornode/libs/bus"
	"github.com/sensornode/sensornode/libs/messages"
	"github.com/sensornode/sensornode/libs/messages/jpegsynth"
	"github.com/sensornode/sensornode/libs/svc/svctest"
	"github.com/sensornode/sensornode/tools/devstack"
	"github.com/sensornode/sensornode/tools/devstack/devstacktest"
)

// The browser test's fleet: pictures of viewerCameras cameras and readings
// of viewerNodes nodes (node n has camera Cn).
const (
	viewerCameras  = 4
	viewerNodes    = 4
	viewerPicWidth = 640
	// EnvChromium overrides the browser (default: Debian's /usr/bin/chromium,
	// which tools/scripts/install-deps.sh installs).
	EnvChromium = "SENSORNODE_CHROMIUM"
)

// viewerFleet is what the test stored: per camera its pictures' capture
// times and keys (oldest first), per node its readings' times.
type viewerFleet struct {
	pictures map[string][]messages.Picture
	readings map[string][]time.Time
}

// TestBrowserViewer drives Debian's chromium (headless, through chromedp)
// against the real viewer binary on the shared devstack. Pictures of four
// cameras and readings of four nodes go through the real cloud-ingest-hdfs
// binary into HDFS (its real layout, nothing written by the test itself);
// then, in the browser: a wrong password is refused (still on /login, with
// an error, no session); the right one logs in; the wall has one tile per
// camera, each showing that camera's newest picture, decoded
// (naturalWidth > 0); camera -> day -> hour -> picture works and the full
// picture decodes at its real width; the temperature page of every node
// draws a circle.reading per reading. Screenshots go to
// e2e/results/<time>-viewer-browser/ (gitignored; the path is logged).
//
// It is not a TestIntegration* test: `make test-browser` runs it on its own
// (it needs chromium), with its own time budget.
func TestBrowserViewer(t *testing.T) {
	chromium := os.Getenv(EnvChromium)
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(chromium); err != nil {
		t.Fatalf("no browser at %s (%v): run tools/scripts/install-deps.sh (Debian package chromium) or set %s", chromium, err, EnvChromium)
	}
	st := devstacktest.Stack(t)
	dir := t.TempDir()
	bins := struct{ ingest, viewer string }{filepath.Join(dir, "cloud-ingest-hdfs"), filepath.Join(dir, "viewer")}
	buildPkgs(t, []string{"-race"}, map[string]string{
		bins.ingest: "./services/cloud-ingest-hdfs/cmd/cloud-ingest-hdfs",
		bins.viewer: "./services/viewer/cmd/viewer",
	})

	// Only the cloud half of the pipeline: the test publishes to the
	// cloud topics what edge-forwarder would have forwarded.
	prefix := devstacktest.UniqueTopic(t, "viewer")
	e := &env{st: st, prefix: prefix, cloudPic: prefix + "-cameraData", cloudTemp: prefix + "-temperatureData",
		root: devstacktest.UniquePath(t, "viewer"), logDir: t.TempDir(), started: time.Now(),
		store: testPictureStore(t), indexes: map[string]bundle.Index{}}
	for _, tp := range []string{e.cloudPic, e.cloudTemp} {
		devstacktest.CreateTopic(t, st.CloudBootstrap(), tp, 1, 1)
		devstacktest.CreateTopic(t, st.CloudBootstrap(), messages.DeadLetterTopic(tp), 1, 1)
	}
	fs := devstacktest.HDFSClient(t, st)
	e.ingest = &proc{name: "cloud-ingest-hdfs", bin: bins.ingest, logPath: filepath.Join(e.logDir, "cloud-ingest-hdfs.log")}
	viewer := &proc{name: "viewer", bin: bins.viewer, logPath: filepath.Join(e.logDir, "viewer.log")}
	t.Cleanup(func() {
		viewer.stop(t)
		e.ingest.stop(t)
		// The binaries are built with -race: name a race plainly (the log's
		// tail may have only its end).
		for _, p := range []*proc{viewer, e.ingest} {
			b, _ := os.ReadFile(p.logPath)
			if i := strings.Index(string(b), "WARNING: DATA RACE"); i >= 0 {
				race := string(b[i:])
				if lines := strings.SplitN(race, "\n", 41); len(lines) > 40 {
					race = strings.Join(lines[:40], "\n") + "\n..."
				}
				t.Errorf("%s: data race (log %s):\n%s", p.name, p.logPath, race)
			}
		}
		if t.Failed() {
			t.Logf("cloud-ingest-hdfs log (tail):\n%s", tail(e.ingest.logPath))
			t.Logf("viewer log (tail):\n%s", tail(viewer.logPath))
		}
		_ = fs.RemoveAll(e.root)
	})
	e.startIngest(t)

	fleet := publishFleet(t, e, time.Now().UTC())
	nPics, nReads := 0, 0
	for _, p := range fleet.pictures {
		nPics += len(p)
	}
	for _, r := range fleet.readings {
		nReads += len(r)
	}
	svctest.Eventually(t, 2*time.Minute, "cloud-ingest-hdfs stores every picture and reading", func() bool {
		c := e.read(t, false)
		return len(c.pictures) >= nPics && len(c.readings) >= nReads
	})
	t.Logf("HDFS holds %d pictures of %d cameras and %d readings of %d nodes under %s", nPics, viewerCameras, nReads, viewerNodes, e.root)

	// The viewer, with one user whose password only the test knows.
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, fmt.Appendf(nil, "admin:%s\n", hash), 0o600); err != nil {
		t.Fatal(err)
	}
	pages := svctest.FreeAddr(t)
	viewer.env = baseEnv(map[string]string{
		"SENSORNODE_ADMIN_ADDR":             "127.0.0.1:0",
		"SENSORNODE_VIEWER_ADDR":            pages,
		"SENSORNODE_VIEWER_USERS_FILE":      users,
		"SENSORNODE_VIEWER_COOKIE_SECURE":   "true", // as deployed: browsers take Secure cookies from http://127.0.0.1
		"SENSORNODE_HDFS_NAMENODE_ADDR":     st.NameNodeAddr(),
		"SENSORNODE_HDFS_USER":              devstack.HDFSUser(),
		"SENSORNODE_PICTURE_LAYOUT":         e.root + "/camera/{camera}/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}-{key}.jpg",
		"SENSORNODE_PICTURE_BUNDLE_DIR":     e.bundleDir(), // ingest's (SENSORNODE_TEST_PICTURE_STORE=avro)
		"SENSORNODE_TEMPERATURE_DIR_LAYOUT": e.root + "/temperature/{node}/{yyyy}/{MM}/{dd}/{HH}",
		"SENSORNODE_VIEWER_THUMB_DIR":       filepath.Join(dir, "thumbnails"),
		"SENSORNODE_VIEWER_METRICS_TARGETS": e.ingest.admin,
	})
	viewer.start(t)
	svctest.EventuallyNoError(t, time.Minute, "viewer /readyz answers 200", func() error {
		return httpStatus("http://"+viewer.admin+"/readyz", http.StatusOK)
	})
	base := "http://" + pages
	// Without a session: pictures are 401, pages redirect to the login.
	key := fleet.pictures["C1"][0].Key()
	if err := httpStatus(base+"/picture/C1/"+key+".jpg", http.StatusUnauthorized); err != nil {
		t.Errorf("picture without a session: %v", err)
	}

	shots := filepath.Join("results", time.Now().UTC().Format("20060102T150405Z")+"-viewer-browser")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	if abs, err := filepath.Abs(shots); err == nil {
		shots = abs
	}
	t.Logf("screenshots in %s", shots)
	b := newBrowser(t, chromium, base, shots)
	defer b.close()
	b.run(t, "wrong password refused", func(t *testing.T) { b.wrongPassword(t) })
	b.run(t, "login", func(t *testing.T) { b.login(t, "admin", password) })
	b.run(t, "wall shows every camera's latest picture", func(t *testing.T) { b.wall(t, fleet) })
	b.run(t, "camera day hour picture", func(t *testing.T) { b.browse(t, fleet, "C2") })
	b.run(t, "temperature of every node", func(t *testing.T) { b.temperatures(t, fleet) })
}

// publishFleet publishes, as edge-forwarder would, pictures of every
// camera over the last three hours (three in one hour, two in the next,
// the newest 20 minutes ago: a day and hour to browse) and a reading of
// every node every two minutes for the last three hours, and returns them.
func publishFleet(t *testing.T, e *env, now time.Time) viewerFleet {
	t.Helper()
	p, err := bus.NewProducer(bus.ProducerConfig{
		Config: bus.Config{Brokers: []string{e.st.CloudBootstrap()}, ClientID: "viewer-browser-test", Backend: devstacktest.KafkaBackend()},
		Linger: 2 * time.Millisecond, MaxMessageBytes: 8 << 20, QueueMaxBytes: 64 << 20, DeliveryTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	publish := func(topic string, enc messages.Encoded, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Publish(ctx, bus.FromEncoded(topic, enc)); err != nil {
			t.Fatalf("publish to %s: %v", topic, err)
		}
	}
	fleet := viewerFleet{pictures: map[string][]messages.Picture{}, readings: map[string][]time.Time{}}
	newest := now.Add(-20 * time.Minute)
	hour := newest.Truncate(time.Hour)
	offsets := []time.Duration{ // from the newest picture's hour
		-time.Hour + 10*time.Minute, -time.Hour + 25*time.Minute, -time.Hour + 40*time.Minute,
		newest.Sub(hour) - 5*time.Minute, newest.Sub(hour),
	}
	for c := 1; c <= viewerCameras; c++ {
		cam, node := messages.CameraID(c), messages.NodeTopic(c)
		for i, off := range offsets {
			jpeg := withComment(jpegsynth.Picture(jpegsynth.Size640x480, uint64(c*10+i)), fmt.Sprintf("viewer browser test %s %d", cam, i))
			// Whole seconds (the key's precision), a few apart per camera.
			at := hour.Add(off).Add(time.Duration(c) * time.Second).Truncate(time.Second)
			pic := messages.NewPicture(cam, node, at, jpeg)
			enc, err := messages.EncodePicture(pic, messages.FormBinary)
			publish(e.cloudPic, enc, err)
			fleet.pictures[cam] = append(fleet.pictures[cam], pic)
		}
	}
	for n := 1; n <= viewerNodes; n++ {
		node := messages.NodeTopic(n)
		for at := now.Add(-3 * time.Hour).Truncate(time.Second); at.Before(now); at = at.Add(2 * time.Minute) {
			r := messages.TemperatureReading{NodeID: node, ReadAt: at, TemperatureCelsius: 40 + float64(n) + float64(at.Minute()%10)/2, Source: "synthetic"}
			enc, err := messages.EncodeTemperature(r, messages.FormBinary)
			publish(e.cloudTemp, enc, err)
			fleet.readings[node] = append(fleet.readings[node], at)
		}
	}
	return fleet
}

// httpStatus is nil when a plain GET of u (no cookies, redirects not
// followed) answers want.
func httpStatus(u string, want int) error {
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %s, want %d", u, resp.Status, want)
	}
	return nil
}

// ---------------------------------------------------------------- browser

// browser is one headless chromium with a fresh profile, driven through
// chromedp (its generic API: an action returns its value).
type browser struct {
	ctx   context.Context // of the current step
	close func()
	base  string
	shots string
	n     int
}

func newBrowser(t *testing.T, chromium, base, shots string) *browser {
	t.Helper()
	// The flags this machine's chromium needs (no sandbox as root, no GPU,
	// no background traffic, which the closed network refuses), and a
	// profile of its own.
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// The first action starts the browser, for the whole context: no
	// timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start %s: %v", chromium, err)
	}
	return &browser{ctx: ctx, base: base, shots: shots, close: func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelCtx()
		cancelAlloc()
	}}
}

// run runs one step as a subtest within 90 s; a failed step leaves a
// screenshot, and the steps after it (which build on it) are not run.
func (b *browser) run(t *testing.T, name string, step func(t *testing.T)) {
	t.Helper()
	if t.Failed() {
		t.Errorf("%s: not run, an earlier step failed", name)
		return
	}
	outer := b.ctx
	ctx, cancel := context.WithTimeout(outer, 90*time.Second)
	defer cancel()
	b.ctx = ctx
	defer func() { b.ctx = outer }()
	if !t.Run(name, step) {
		b.screenshot(t, "failed-"+strings.ReplaceAll(name, " ", "-"))
	}
}

// do runs actions, failing the test with what was being done.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v (page %s)", what, err, b.where())
	}
}

// eval evaluates a JavaScript expression into a T.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v (page %s)", js, err, b.where())
	}
	return v
}

// path is the page's location path.
func (b *browser) path(t *testing.T) string {
	t.Helper()
	return eval[string](t, b, `location.pathname`)
}

// waitFor polls a JavaScript condition until it is true or the step's time
// is up.
func (b *browser) waitFor(t *testing.T, what, js string) {
	t.Helper()
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if b.ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v (last: %v; page %s)", what, b.ctx.Err(), err, b.where())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// where is the page's URL, for messages (with the browser's context minus
// its cancellation: the step's time may be up).
func (b *browser) where() string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 2*time.Second)
	defer cancel()
	u, _ := chromedp.Run(ctx, chromedp.Location())
	return u
}

// screenshot saves the whole page as NN-name.png.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.n++
	f := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(f, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot %s", f)
}

// submitLogin opens / (which must redirect to /login), fills in the login
// form, submits it and waits for the page that answers.
func (b *browser) submitLogin(t *testing.T, user, password string) {
	t.Helper()
	b.do(t, "open /", chromedp.Navigate(b.base+"/"))
	if p := b.path(t); p != "/login" {
		t.Fatalf("without a session / shows %s, want a redirect to /login", p)
	}
	b.do(t, "wait for the login form", chromedp.WaitVisible(chromedp.CSS(`input[name="user"]`)))
	// The form may keep the last user name: clear it, then type.
	_ = eval[chromedp.Void](t, b, `document.querySelector('input[name="user"]').value = ""`)
	b.do(t, "fill in the login form",
		chromedp.SendKeys(chromedp.CSS(`input[name="user"]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), password),
	)
	// Submit returns before the next page is there: mark this document,
	// then wait for one without the mark.
	_ = eval[chromedp.Void](t, b, `window.sensornodeOldPage = true`)
	b.do(t, "submit the login form", chromedp.Submit(chromedp.CSS(`input[name="password"]`)))
	b.waitFor(t, "the page after the login form", `window.sensornodeOldPage !== true && document.readyState === "complete"`)
}

// errorShown is a JavaScript condition: the page shows an error message
// (an alert with text).
const errorShown = `[...document.querySelectorAll('[role="alert"], .error')].some(e => e.textContent.trim() !== "")`

func (b *browser) wrongPassword(t *testing.T) {
	b.submitLogin(t, "admin", "not-the-password")
	if p := b.path(t); p != "/login" {
		t.Fatalf("a wrong password led to %s, want /login", p)
	}
	if !eval[bool](t, b, errorShown) {
		t.Errorf("no error shown after a wrong password; page text:\n%s", eval[string](t, b, `document.body.innerText`))
	}
	b.screenshot(t, "login-refused")
	// And no session came of it.
	b.do(t, "open / again", chromedp.Navigate(b.base+"/"))
	if p := b.path(t); p != "/login" {
		t.Errorf("after a wrong password / shows %s, want /login", p)
	}
}

func (b *browser) login(t *testing.T, user, password string) {
	b.submitLogin(t, user, password)
	if p := b.path(t); p != "/" {
		t.Fatalf("the right password led to %s, want the wall at /; page text:\n%s", p, eval[string](t, b, `document.body.innerText`))
	}
}

// decodedAll is a JavaScript condition: at least one image matches sel and
// every one has loaded and decoded (naturalWidth > 0).
func decodedAll(sel string) string {
	return fmt.Sprintf(`(() => { const imgs = [...document.querySelectorAll(%q)];
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); })()`, sel)
}

// wallTile is one tile of the wall as the browser has it.
type wallTile struct {
	Camera string `json:"camera"`
	Src    string `json:"src"`
	Href   string `json:"href"`
	Alt    string `json:"alt"`
	Width  int    `json:"width"`
}

func (b *browser) wall(t *testing.T, fleet viewerFleet) {
	b.do(t, "open the wall", chromedp.Navigate(b.base+"/"))
	b.waitFor(t, "every tile's picture decoded", decodedAll(`figure.tile img`))
	tiles := eval[[]wallTile](t, b, `[...document.querySelectorAll("figure.tile")].map(f => {
  const i = f.querySelector("img"), a = f.querySelector("a");
  return {camera: f.dataset.camera, src: i ? i.getAttribute("src") : "", href: a ? a.getAttribute("href") : "",
    alt: i ? i.getAttribute("alt") : "", width: i ? i.naturalWidth : 0}; })`)
	if len(tiles) != viewerCameras {
		t.Errorf("%d tiles, want one per camera (%d)", len(tiles), viewerCameras)
	}
	seen := map[string]bool{}
	for _, tile := range tiles {
		pics := fleet.pictures[tile.Camera]
		if len(pics) == 0 || seen[tile.Camera] {
			t.Errorf("tile of camera %q: unknown or twice", tile.Camera)
			continue
		}
		seen[tile.Camera] = true
		latest := pics[len(pics)-1].Key()
		if want := "/thumb/" + tile.Camera + "/" + latest + ".jpg"; tile.Src != want {
			t.Errorf("tile %s shows %s, want its latest picture %s", tile.Camera, tile.Src, want)
		}
		if tile.Width <= 0 {
			t.Errorf("tile %s: picture not decoded (naturalWidth %d)", tile.Camera, tile.Width)
		}
		if tile.Href != "/camera/"+tile.Camera || strings.TrimSpace(tile.Alt) == "" {
			t.Errorf("tile %s: link %q, alt %q; want /camera/%s and an alt text", tile.Camera, tile.Href, tile.Alt, tile.Camera)
		}
	}
	b.screenshot(t, "wall")
}

// click clicks the first element matching the CSS selector and waits until
// the page's path is want.
func (b *browser) click(t *testing.T, sel, want string) {
	t.Helper()
	b.do(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
	b.waitFor(t, "page "+want, fmt.Sprintf(`location.pathname === %q && document.readyState === "complete"`, want))
}

func (b *browser) browse(t *testing.T, fleet viewerFleet, cam string) {
	pics := fleet.pictures[cam]
	latest := pics[len(pics)-1]
	at := latest.CapturedAt.UTC()
	day, hour := at.Format("2006-01-02"), at.Format("15")
	inHour := 0
	for _, p := range pics {
		if p.CapturedAt.UTC().Truncate(time.Hour).Equal(at.Truncate(time.Hour)) {
			inHour++
		}
	}
	b.do(t, "open the wall", chromedp.Navigate(b.base+"/"))
	b.click(t, fmt.Sprintf(`figure.tile[data-camera=%q] a`, cam), "/camera/"+cam)
	b.screenshot(t, "camera-"+cam)
	b.click(t, fmt.Sprintf(`a[href=%q]`, "/camera/"+cam+"/"+day), "/camera/"+cam+"/"+day)
	b.screenshot(t, "day")
	b.click(t, fmt.Sprintf(`a[href=%q]`, "/camera/"+cam+"/"+day+"/"+hour), "/camera/"+cam+"/"+day+"/"+hour)
	b.waitFor(t, "the hour's thumbnails decoded", decodedAll(`img.thumb`))
	if n := eval[int](t, b, `document.querySelectorAll("img.thumb").length`); n != inHour {
		t.Errorf("hour %s %s:00 of %s shows %d thumbnails, want %d", day, hour, cam, n, inHour)
	}
	b.screenshot(t, "hour")
	pic := "/camera/" + cam + "/picture/" + latest.Key()
	b.click(t, fmt.Sprintf(`a[href=%q]`, pic), pic)
	b.waitFor(t, "the full picture decoded", decodedAll(`img#picture`))
	if w := eval[int](t, b, `document.querySelector("img#picture").naturalWidth`); w != viewerPicWidth {
		t.Errorf("full picture naturalWidth %d, want %d (the stored picture, not a thumbnail)", w, viewerPicWidth)
	}
	b.screenshot(t, "picture")
}

func (b *browser) temperatures(t *testing.T, fleet viewerFleet) {
	b.do(t, "open /temperature", chromedp.Navigate(b.base+"/temperature"))
	links := eval[[]string](t, b, `[...document.querySelectorAll('a[href^="/temperature/"]')].map(a => a.getAttribute("href"))`)
	for n := 1; n <= viewerNodes; n++ {
		node := messages.NodeTopic(n)
		if !slices.ContainsFunc(links, func(l string) bool { u, err := url.Parse(l); return err == nil && u.Path == "/temperature/"+node }) {
			t.Errorf("/temperature lacks a link to %s (links %v)", node, links)
		}
	}
	b.screenshot(t, "temperature")
	for n := 1; n <= viewerNodes; n++ {
		node := messages.NodeTopic(n)
		b.do(t, "open "+node, chromedp.Navigate(b.base+"/temperature/"+node))
		points := fmt.Sprintf(`document.querySelectorAll(%q).length`, fmt.Sprintf(`svg.chart[data-node=%q] circle.reading`, node))
		b.waitFor(t, "points of "+node, points+` > 0`)
		// The default range, the last 24 h, holds every reading sent.
		if got, want := eval[int](t, b, points), len(fleet.readings[node]); got != want {
			t.Errorf("%s: %d points, want one per reading (%d)", node, got, want)
		}
		if !eval[bool](t, b, `(() => { const d = document.querySelector("dl.stats"); return !!d && d.textContent.trim() !== ""; })()`) {
			t.Errorf("%s: no min/max/mean (dl.stats)", node)
		}
		if n == 1 {
			b.screenshot(t, "temperature-"+node)
		}
	}
}
