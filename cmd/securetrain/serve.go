package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"securetrain/internal/api"
	"securetrain/internal/blob"
	"securetrain/internal/certs"
	"securetrain/internal/fabric/netns"
	"securetrain/internal/jobs"
	"securetrain/internal/netverify"
	"securetrain/internal/provision"
	"securetrain/internal/serving"
	"securetrain/internal/store"
	"securetrain/internal/studio"
)

// runServe runs the control plane until SIGINT or SIGTERM.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "[flags]", stderr)
	dataDir := fs.String("data", defaultDataDir, "data directory: the store, TLS material and admin.token")
	storeURL := fs.String("store", "", storeUsage)
	lease := fs.Duration("lease", 15*time.Second, "with --store postgres://…: how long the replica doing provisioning holds its lease unrenewed, so how long operations wait when it dies (docs/deploy.md)")
	listen := fs.String("listen", "127.0.0.1:8443", "address to listen on")
	certFile := fs.String("tls-cert", "", "TLS certificate (PEM); default: one generated into --data, signed by a local CA")
	keyFile := fs.String("tls-key", "", "TLS private key (PEM) for --tls-cert")
	insecure := fs.Bool("insecure-http", false, "serve plain HTTP (local debugging only: tokens cross the network in clear)")
	quotaFile := fs.String("quotas", "", "JSON `file` of provisioning quotas per subscription and region (default: Azure-like; docs/provisioning.md)")
	checkBudget := fs.Duration("check-timeout", store.DefaultCheckBudget, checkTimeoutUsage)
	fabricKind := fs.String("fabric", "sim", "where nodes run: sim (no packets; the verifier's prediction) or netns (Linux, root: namespaces, nftables, real packets; docs/fabric.md)")
	fabricInstance := fs.String("fabric-instance", "main", "netns fabric: the name in its namespaces (securetrain-NAME-…), so that two servers on one host keep apart")
	nodeDir := fs.String("node-dir", filepath.Join(os.TempDir(), "securetrain-nodes"),
		"`directory` of the jobs' working directories on the sim fabric: outside --data, which jobs cannot enter (docs/jobs.md)")
	if _, err := parseArgs(fs, args); err != nil {
		return flagExit(err)
	}
	if *fabricKind != "sim" && *fabricKind != "netns" {
		fmt.Fprintf(stderr, "securetrain serve: --fabric %q: use sim or netns\n", *fabricKind)
		return exitBadInput
	}
	var quotas provision.Quotas
	if *quotaFile != "" {
		var err error
		if quotas, err = provision.LoadQuotas(*quotaFile); err != nil {
			fmt.Fprintf(stderr, "securetrain serve: %v\n", err)
			return exitBadInput
		}
	}
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(stderr, "securetrain serve: --tls-cert and --tls-key go together")
		return exitBadInput
	}
	if *insecure && *certFile != "" {
		fmt.Fprintln(stderr, "securetrain serve: --insecure-http serves no TLS: drop --tls-cert and --tls-key, or --insecure-http")
		return exitBadInput
	}
	// Every flag is checked before the data directory, store or admin
	// token is created: a typo must leave nothing behind.
	if _, err := net.ResolveTCPAddr("tcp", *listen); err != nil {
		fmt.Fprintf(stderr, "securetrain serve: --listen %q is not a host:port address to listen on: %v\n", *listen, err)
		return exitBadInput
	}
	if *certFile != "" {
		if _, err := tls.LoadX509KeyPair(*certFile, *keyFile); err != nil {
			fmt.Fprintf(stderr, "securetrain serve: --tls-cert %s, --tls-key %s: %v\n", *certFile, *keyFile, err)
			return exitBadInput
		}
	}
	if *lease < 3*time.Second {
		fmt.Fprintf(stderr, "securetrain serve: --lease %v is too short: at least 3s (it is renewed every third of it)\n", *lease)
		return exitBadInput
	}
	if *checkBudget < 0 {
		fmt.Fprintf(stderr, "securetrain serve: --check-timeout %v must not be negative\n", *checkBudget)
		return exitBadInput
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, serveConfig{dataDir: *dataDir, storeURL: *storeURL, listen: *listen, certFile: *certFile, keyFile: *keyFile, insecure: *insecure, quotas: quotas, checkBudget: *checkBudget,
		fabric: *fabricKind, fabricInstance: *fabricInstance, nodeDir: *nodeDir, lease: *lease}, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "securetrain serve: %v\n", err)
		return 1
	}
	return 0
}

type serveConfig struct {
	dataDir, listen, certFile, keyFile string
	// storeURL is the PostgreSQL store's connection string; "" for the
	// embedded store in dataDir.
	storeURL string
	insecure bool
	quotas   provision.Quotas
	// ready, when set, receives the listening address once serving.
	ready chan<- string
	// checkBudget bounds the store's integrity check at start (0: none).
	checkBudget time.Duration
	// fabric is "sim" ("" too) or "netns"; fabricInstance names a netns
	// fabric's namespaces.
	fabric, fabricInstance string
	// nodeDir holds jobs' working directories; "" runs no jobs.
	nodeDir string
	// lease is the provisioning lease's length on a shared store (0: the
	// default).
	lease time.Duration
}

func serve(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) error {
	// The log and serve's own lines share stderr from several goroutines.
	stderr = &syncWriter{w: stderr}
	// The address is bound first: one already in use creates nothing.
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	defer ln.Close()
	st, err := openStore(cfg.dataDir, cfg.storeURL, cfg.checkBudget)
	if err != nil {
		return err
	}
	defer st.Close()
	if created, err := api.EnsureAdmin(ctx, st, cfg.dataDir); err != nil {
		return fmt.Errorf("admin principal: %w", err)
	} else if created {
		fmt.Fprintf(stdout, "created principal %q; its token is in %s (mode 0600)\n", api.AdminName, filepath.Join(cfg.dataDir, api.AdminTokenFile))
	}
	if cfg.nodeDir != "" { // "" (tests of other commands): jobs fail, naming why
		if err := ensureNodeDir(cfg.nodeDir); err != nil {
			return err
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	blobs, err := blob.OpenFor(st, filepath.Join(cfg.dataDir, "blobs"))
	if err != nil {
		return err
	}
	opts := api.Options{Quotas: cfg.quotas, JobLogDir: filepath.Join(cfg.dataDir, "jobs"), NodeDir: cfg.nodeDir, Blobs: blobs}
	if cfg.storeURL != "" {
		opts.Replica = replicaLease(cfg.lease)
	}
	var handler *api.Server
	if cfg.fabric == "netns" {
		// Removes what a killed server left, and (deferred, so after the
		// engine has stopped) everything it created.
		nf, err := netns.New(netns.Config{Instance: cfg.fabricInstance, Log: logger, Agent: &netns.Agent{Args: []string{agentCommand}},
			Network: func(ctx context.Context, sub string) (*netverify.Network, error) {
				return handler.CompiledNetwork(ctx, sub)
			}})
		if err != nil {
			return fmt.Errorf("--fabric netns: %w", err)
		}
		defer func() {
			if err := nf.Close(); err != nil {
				fmt.Fprintf(stderr, "securetrain serve: removing the netns fabric: %v\n", err)
			}
		}()
		opts.Fabric = nf
		fmt.Fprintf(stdout, "fabric netns: namespaces %s*\n", nf.Prefix())
	}
	handler = api.NewWithOptions(st, logger, opts)
	// The engine and the sweeper stop, and their last transaction ends,
	// before the store closes (deferred above, so run after this).
	background, stopBackground := context.WithCancel(ctx)
	backgroundDone := make(chan struct{})
	go func() { defer close(backgroundDone); handler.Background(background) }()
	defer func() { stopBackground(); <-backgroundDone }()
	scheme := "https"
	var tlsCert *tls.Certificate // nil: plain HTTP
	if cfg.insecure {
		scheme = "http"
		fmt.Fprintln(stderr, "WARNING: --insecure-http: serving plain HTTP; bearer tokens cross the network in clear. Use only for local debugging.")
	} else {
		var cert tls.Certificate
		if cfg.certFile != "" {
			cert, err = tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		} else {
			host, _, _ := net.SplitHostPort(cfg.listen)
			var created bool
			cert, created, err = certs.EnsureLocal(cfg.dataDir, []string{host})
			if created {
				fmt.Fprintf(stdout, "created a local CA and server certificate in %s\n", cfg.dataDir)
			}
			fmt.Fprintf(stdout, "trust the CA with: export SSL_CERT_FILE=%s\n", filepath.Join(cfg.dataDir, certs.CAFile))
		}
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		tlsCert = &cert
	}
	// The studio shares the listener: / and /studio/ are its pages, the
	// rest is the API, unchanged.
	ui := studio.New(handler, studio.Options{Log: logger})
	srv, ln := serving.New(studio.Mount(handler, ui), ln, tlsCert, serving.Defaults())
	fmt.Fprintf(stdout, "serving on %s://%s\n", scheme, ln.Addr())
	if cfg.ready != nil {
		cfg.ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Graceful: stop accepting, let requests in flight finish (bounded).
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}

// replicaLease is how a replica on a shared store takes its turn at
// provisioning: named by host and process (and a random part, as pids
// repeat across containers), holding the lease ttl unrenewed.
func replicaLease(ttl time.Duration) *provision.Lease {
	if ttl == 0 {
		ttl = 15 * time.Second
	}
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return &provision.Lease{Holder: fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b), TTL: ttl, Poll: min(time.Second, ttl/3)}
}

// onStore runs an administrative command on the data directory's store
// (the server may be running: the store takes concurrent writers) and
// prints its result.
func onStore(cmd, dataDir, storeURL string, stdout, stderr io.Writer, fn func(store.Store) (string, error)) int {
	st, err := openStore(dataDir, storeURL, store.DefaultCheckBudget)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain %s: %v\n", cmd, err)
		return 1
	}
	defer st.Close()
	out, err := fn(st)
	if err != nil {
		fmt.Fprintf(stderr, "securetrain %s: %v\n", cmd, err)
		return exitBadInput
	}
	fmt.Fprintln(stdout, out)
	return 0
}

// runRole: `role assign --principal P --role R --scope S --data DIR`
// assigns a built-in role in the store directly.
func runRole(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("role", "assign --principal P --role R --scope S [--data DIR]", stderr)
	dataDir := fs.String("data", defaultDataDir, "data directory of the server")
	storeURL := fs.String("store", "", storeUsage)
	who := fs.String("principal", "", "principal name")
	role := fs.String("role", "", "role: Owner, Contributor, Reader, Network Contributor, Data Scientist")
	scope := fs.String("scope", "", "/ (everything), /subscriptions/S, /subscriptions/S/resourceGroups/G or a resource id")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) != 1 || rest[0] != "assign" || *who == "" || *role == "" || *scope == "" {
		fmt.Fprintln(stderr, "usage: securetrain role assign --principal P --role R --scope S [--data DIR]")
		return exitBadInput
	}
	return onStore("role", *dataDir, *storeURL, stdout, stderr, func(st store.Store) (string, error) {
		return api.AssignRole(context.Background(), st, *who, *role, *scope)
	})
}

// ensureNodeDir creates the directory of jobs' working directories, 0711:
// jobs' users reach their own directory in it and list nothing. One that
// exists must be a directory of this user's that no one else can write:
// in a shared /tmp, another user could otherwise plant a link that makes
// the server create and hand over directories elsewhere.
func ensureNodeDir(dir string) error {
	if err := jobs.EnsureOwnDir("--node-dir", dir, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return fmt.Errorf("--node-dir: %w", err)
	}
	// Jobs' users enter their directories through every directory above.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("--node-dir: %w", err)
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("--node-dir: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("--node-dir %s: jobs' users cannot reach it, %s has mode %v; choose a directory every user can enter above (such as /var/lib/securetrain-nodes)",
				dir, p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// syncWriter serialises writes to w, for writers (a test's buffer) that
// are not safe for concurrent use.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
