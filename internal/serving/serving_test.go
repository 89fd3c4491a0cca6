package serving

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/certs"
	"securetrain/internal/store"
)

// connStates counts the server's connections as net/http reports them.
type connStates struct {
	opened, closed atomic.Int64
	// closedEvents receives one value per closed connection when not nil.
	closedEvents chan struct{}
}

func (c *connStates) hook(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
		if c.closedEvents != nil {
			c.closedEvents <- struct{}{}
		}
	}
}

// startServer serves handler on 127.0.0.1 through New, exactly as
// `securetrain serve` does, and returns its address.
func startServer(t testing.TB, handler http.Handler, cert *tls.Certificate, s Settings, states *connStates) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, ln := New(handler, ln, cert, s)
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused and timed-out handshakes
	if states != nil {
		srv.ConnState = states.hook
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// apiServer is the control plane's handler on a fresh store, the store,
// and the token of a principal that may write anywhere.
func apiServer(t testing.TB) (http.Handler, store.Store, string) {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	token, err := api.CreatePrincipal(ctx, st, "load")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.AssignRole(ctx, st, "load", "Contributor", "/"); err != nil {
		t.Fatal(err)
	}
	return api.New(st, slog.New(slog.NewTextHandler(io.Discard, nil))), st, token
}

// localCert is the certificate `serve` generates, and a pool trusting it.
func localCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	cert, _, err := certs.EnsureLocal(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	return cert, roots
}

// rsaCert is a self-signed RSA certificate, as an operator may give with
// --tls-cert, and a pool trusting it.
func rsaCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rsa test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, roots
}

// TestTLSOffersOnlyAEADSuites offers the server each TLS 1.2 suite Go
// knows, one at a time, for the generated ECDSA certificate and for an
// RSA one: only ECDHE with GCM or ChaCha20-Poly1305 for the key's type
// connects (no CBC, no SHA-1 MAC, no RSA key exchange). A default client
// still connects (TLS 1.3), and TLS 1.1 is refused.
func TestTLSOffersOnlyAEADSuites(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	ecdsaCert, ecdsaRoots := localCert(t)
	rsaCert, rsaRoots := rsaCert(t)
	var suites []*tls.CipherSuite
	suites = append(suites, tls.CipherSuites()...)
	suites = append(suites, tls.InsecureCipherSuites()...)
	for _, key := range []struct {
		name  string
		cert  tls.Certificate
		roots *x509.CertPool
	}{{"ECDSA", ecdsaCert, ecdsaRoots}, {"RSA", rsaCert, rsaRoots}} {
		t.Run(key.name, func(t *testing.T) {
			addr := startServer(t, ok, &key.cert, Defaults(), nil)
			dial := func(cfg *tls.Config) (tls.ConnectionState, error) {
				cfg.RootCAs = key.roots
				cfg.ServerName = "127.0.0.1"
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					return tls.ConnectionState{}, err
				}
				defer c.Close()
				return c.ConnectionState(), nil
			}
			accepted := 0
			for _, s := range suites {
				if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) {
					continue
				}
				want := strings.HasPrefix(s.Name, "TLS_ECDHE_"+key.name+"_WITH_") &&
					(strings.Contains(s.Name, "_GCM_") || strings.Contains(s.Name, "_CHACHA20_POLY1305_"))
				_, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{s.ID}})
				if want && err != nil {
					t.Errorf("a TLS 1.2 client offering only %s was refused: %v", s.Name, err)
				}
				if !want && err == nil {
					t.Errorf("a TLS 1.2 client offering only %s connected", s.Name)
				}
				if want {
					accepted++
				}
			}
			if accepted != 3 {
				t.Errorf("%d AEAD ECDHE suites for %s, want 3 (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305)", accepted, key.name)
			}
			cbc := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
			if _, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
				t.Error("a client offering only TLS_ECDHE_*_WITH_AES_128_CBC_SHA connected")
			}
			if _, err := dial(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
				t.Error("a TLS 1.1 client connected")
			}
			if st, err := dial(&tls.Config{MaxVersion: tls.VersionTLS12}); err != nil {
				t.Errorf("a default TLS 1.2 client was refused: %v", err)
			} else if name := tls.CipherSuiteName(st.CipherSuite); !strings.HasPrefix(name, "TLS_ECDHE_"+key.name) {
				t.Errorf("a default TLS 1.2 client negotiated %s", name)
			}
			// A default client, through net/http, over HTTP/1.1.
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: key.roots}, ForceAttemptHTTP2: true}}
			defer client.CloseIdleConnections()
			resp, err := client.Get("https://" + addr + "/")
			if err != nil {
				t.Fatalf("a default client was refused: %v", err)
			}
			resp.Body.Close()
			if resp.TLS.Version != tls.VersionTLS13 || resp.ProtoMajor != 1 || resp.StatusCode != http.StatusOK {
				t.Errorf("default client: TLS %x, %s, %d; want TLS 1.3, HTTP/1.1, 200", resp.TLS.Version, resp.Proto, resp.StatusCode)
			}
		})
	}
}

// TestIdleAndSlowConnectionsAreClosed holds, over TLS, connections kept
// alive after one request, connections that never send a byte, and
// request bodies sent a byte every 200 ms, against a server with short
// timeouts. Each must be closed by the server (the client reads EOF or a
// reset, not its own safety deadline), the slow bodies answered 408, and
// the server's goroutines and heap must return to where they were.
func TestIdleAndSlowConnectionsAreClosed(t *testing.T) {
	idle, silent, slow := 500, 500, 20
	// Both ends of every connection are in this process.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if room := int(lim.Cur)/2 - 100; idle+silent+slow > room {
		idle, silent, slow = room/3, room/3, min(slow, room/3)
		t.Logf("file-descriptor limit %d: %d kept-alive, %d silent and %d slow connections", lim.Cur, idle, silent, slow)
	}
	handler, _, token := apiServer(t)
	cert, roots := localCert(t)
	s := Settings{
		ReadHeaderTimeout: 3 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 5 * time.Second,
		IdleTimeout: 3 * time.Second, MaxHeaderBytes: 64 << 10, MaxConns: 4 * (idle + silent + slow),
	}
	var states connStates
	addr := startServer(t, handler, &cert, s, &states)
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	const groups = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups"
	// A safety net only: a connection still open then was kept by the
	// server, and the test fails.
	const clientDeadline = 30 * time.Second

	// One request first, so that what is set up once (the store's cache,
	// the TLS key tables) is in the baseline.
	warm := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	req, _ := http.NewRequest("GET", "https://"+addr+groups+"?api-version=2021-04-01", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := warm.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v %v", resp, err)
	}
	resp.Body.Close()
	warm.CloseIdleConnections()
	baseGoroutines, baseHeap := goroutinesAndHeap()
	type outcome struct {
		kind   string
		err    error // how the connection ended, as the client saw it
		status int   // the slow bodies' answer
	}
	outcomes := make(chan outcome, idle+silent+slow)
	// A few connections are set up at a time, so that no TLS handshake
	// waits on hundreds of others past the server's header timeout.
	settingUp := make(chan struct{}, 32)
	var ready, done sync.WaitGroup
	// open runs fn on a new connection; fn calls opened once the
	// connection is in the state under test, then waits for its end.
	open := func(kind string, fn func(c net.Conn, opened func()) (int, error)) {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			settingUp <- struct{}{}
			opened := sync.OnceFunc(func() { <-settingUp; ready.Done() })
			defer opened() // fn failed before
			c, err := net.Dial("tcp", addr)
			if err != nil {
				outcomes <- outcome{kind: kind, err: err}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(clientDeadline))
			status, err := fn(c, opened)
			outcomes <- outcome{kind, err, status}
		}()
	}
	// readUntilClosed reads what is left and reports how the stream ended.
	readUntilClosed := func(r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		if err == nil {
			return io.EOF
		}
		return err
	}
	// readAnswer reads one response and its body.
	readAnswer := func(br *bufio.Reader) (int, error) {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	request := func(method, path string, length int) string {
		return method + " " + path + "?api-version=2021-04-01 HTTP/1.1\r\n" +
			"Host: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\n" +
			"Content-Length: " + strconv.Itoa(length) + "\r\n\r\n"
	}
	start := time.Now()
	for range idle {
		open("kept alive", func(c net.Conn, opened func()) (int, error) {
			tc := tls.Client(c, tlsConfig)
			if _, err := io.WriteString(tc, request("GET", groups, 0)); err != nil {
				return 0, err
			}
			br := bufio.NewReader(tc)
			status, err := readAnswer(br)
			if err != nil {
				return 0, err
			}
			opened()
			return status, readUntilClosed(br)
		})
	}
	for range slow {
		open("slow body", func(c net.Conn, opened func()) (int, error) {
			tc := tls.Client(c, tlsConfig)
			// 12 s at this pace: far past the read timeout.
			body := strings.Repeat(" ", 40) + `{"location":"eastus"}`
			if _, err := io.WriteString(tc, request("PUT", groups+"/rg", len(body))); err != nil {
				return 0, err
			}
			opened()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(200 * time.Millisecond)
				defer tick.Stop()
				for i := range len(body) {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					if _, err := tc.Write([]byte{body[i]}); err != nil {
						return
					}
				}
			}()
			br := bufio.NewReader(tc)
			status, err := readAnswer(br)
			if err != nil {
				return 0, err
			}
			return status, readUntilClosed(br)
		})
	}
	for range silent {
		open("silent", func(c net.Conn, opened func()) (int, error) {
			opened()
			return 0, readUntilClosed(c)
		})
	}
	ready.Wait()
	t.Logf("%d connections open after %v", idle+silent+slow, time.Since(start))
	peakGoroutines, peakHeap := goroutinesAndHeap()
	done.Wait()
	close(outcomes)
	ended := map[string]int{}
	for o := range outcomes {
		switch {
		case errors.Is(o.err, os.ErrDeadlineExceeded):
			t.Errorf("a %s connection was still open after %v", o.kind, clientDeadline)
		case !errors.Is(o.err, io.EOF) && !errors.Is(o.err, syscall.ECONNRESET):
			t.Errorf("a %s connection ended with %v, want EOF or a reset", o.kind, o.err)
		case o.kind == "kept alive" && o.status != http.StatusOK:
			t.Errorf("a kept-alive connection's request: %d", o.status)
		case o.kind == "slow body" && o.status != http.StatusRequestTimeout:
			t.Errorf("a slow body was answered %d, want 408", o.status)
		default:
			ended[o.kind]++
		}
	}
	if ended["kept alive"] != idle || ended["silent"] != silent || ended["slow body"] != slow {
		t.Errorf("closed by the server: %v; want %d kept alive, %d silent, %d slow body", ended, idle, silent, slow)
	}
	// The server's side ends a moment after the client sees it close.
	var afterGoroutines int
	var afterHeap uint64
	for range 100 {
		if afterGoroutines, afterHeap = goroutinesAndHeap(); states.closed.Load() == states.opened.Load() && afterGoroutines <= baseGoroutines+5 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	total := int64(idle + silent + slow + 1) // and the first request's
	if opened, closed := states.opened.Load(), states.closed.Load(); opened != total || closed != total {
		t.Errorf("server connections: %d opened, %d closed; want %d and %d", opened, closed, total, total)
	}
	if afterGoroutines > baseGoroutines+5 {
		t.Errorf("goroutines: %d before, %d with the connections open, %d after; want back near %d", baseGoroutines, peakGoroutines, afterGoroutines, baseGoroutines)
	}
	// Most of what the connections held is given back (the runtime keeps
	// the descriptors of exited goroutines, some 400 bytes each, for reuse).
	if grown, kept := int64(peakHeap)-int64(baseHeap), int64(afterHeap)-int64(baseHeap); kept > grown/4 {
		t.Errorf("live heap: %.1f MiB before, %.1f MiB with the connections open, %.1f MiB after; want most of it back",
			mib(baseHeap), mib(peakHeap), mib(afterHeap))
	}
	t.Logf("goroutines %d → %d → %d; live heap %.1f → %.1f → %.1f MiB", baseGoroutines, peakGoroutines, afterGoroutines,
		mib(baseHeap), mib(peakHeap), mib(afterHeap))
}

// goroutinesAndHeap reports the goroutines and the live heap after two
// collections (the second empties the sync.Pools net/http and crypto/tls
// keep buffers in).
func goroutinesAndHeap() (int, uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestConnectionCap: with the cap reached, a new connection is closed at
// once while those held keep working; a closed one frees its slot, and
// only one.
func TestConnectionCap(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	s := Defaults()
	s.MaxConns = 2
	states := connStates{closedEvents: make(chan struct{}, 8)}
	addr := startServer(t, ok, nil, s, &states)
	// get sends a request on c and reads the answer; c stays open.
	get := func(c net.Conn, br *bufio.Reader) error {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
			return errors.New("unexpected answer " + string(body))
		}
		return nil
	}
	type held struct {
		net.Conn
		br *bufio.Reader
	}
	dial := func() held {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second)) // a safety net: the server answers or closes first
		return held{c, bufio.NewReader(c)}
	}
	first, second := dial(), dial()
	for i, h := range []held{first, second} {
		if err := get(h, h.br); err != nil {
			t.Fatalf("connection %d within the cap: %v", i+1, err)
		}
	}
	refused := func(what string) {
		t.Helper()
		h := dial()
		if err := get(h, h.br); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("%s: %v, want the connection closed", what, err)
		}
	}
	refused("a third connection")
	if err := get(second, second.br); err != nil {
		t.Fatalf("a held connection after a refusal: %v", err)
	}
	first.Close()
	<-states.closedEvents // refused connections never reach net/http: this is the first
	third := dial()
	if err := get(third, third.br); err != nil {
		t.Fatalf("a connection after one of the two closed: %v", err)
	}
	refused("a connection over the cap again")
	if opened := states.opened.Load(); opened != 3 {
		t.Errorf("net/http saw %d connections, want 3", opened)
	}
}

// BenchmarkFullListPage serves the largest page a listing has (1,000
// resource groups of about 4 KiB each) over TLS under the default
// settings: the WriteTimeout must leave it a wide margin.
func BenchmarkFullListPage(b *testing.B) {
	handler, st, token := apiServer(b)
	const sub = "/subscriptions/00000000-0000-0000-0000-000000000001"
	ctx := context.Background()
	pad := strings.Repeat("x", 4<<10)
	if err := st.Update(ctx, func(tx store.Tx) error {
		for i := range store.MaxPage {
			id := fmt.Sprintf("%s/resourceGroups/rg%04d", sub, i)
			body := fmt.Sprintf(`{"id":%q,"name":"rg%04d","type":"Microsoft.Resources/resourceGroups","location":"eastus","tags":{"pad":%q}}`, id, i, pad)
			if _, err := tx.Put(ctx, store.Record{ID: id, Type: "Microsoft.Resources/resourceGroups", Body: []byte(body)}, store.Condition{}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	cert, roots := localCert(b)
	addr := startServer(b, handler, &cert, Defaults(), nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer client.CloseIdleConnections()
	var size int64
	for b.Loop() {
		req, _ := http.NewRequest("GET", "https://"+addr+sub+"/resourceGroups?api-version=2021-04-01", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		size, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("list: %d %v", resp.StatusCode, err)
		}
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/page")
}

// TestHeaderSize: a request whose headers pass the limit is refused with
// 431; an 8 KiB token, larger than any bearer token, is not.
func TestHeaderSize(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	addr := startServer(t, ok, nil, Defaults(), nil)
	for _, c := range []struct {
		size int
		want int
	}{{8 << 10, http.StatusOK}, {Defaults().MaxHeaderBytes + 8<<10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("t", c.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte header: %v", c.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%d-byte header: %d, want %d", c.size, resp.StatusCode, c.want)
		}
	}
}
