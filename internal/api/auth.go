package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/store"
)

// Principals and their tokens live in the store beside the resources,
// under ids no ARM path can reach (they do not start with /subscriptions).
// A token is kept only as its SHA-256: the store never holds a secret.
const (
	principalType = "securetrain/principals"
	tokenType     = "securetrain/tokens"
	// AdminName is the principal created on first start.
	AdminName = "admin"
	// AdminTokenFile is where the admin's token is written (mode 0600).
	AdminTokenFile = "admin.token"
)

func principalID(name string) string { return "/providers/securetrain/principals/" + name }

func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "/providers/securetrain/tokens/" + hex.EncodeToString(sum[:])
}

type principal struct {
	Name string `json:"name"`
}

type tokenRecord struct {
	Principal string `json:"principal"`
}

// CreatePrincipal creates a principal and returns its new bearer token
// (shown once; only its hash is stored).
func CreatePrincipal(ctx context.Context, st store.Store, name string) (string, error) {
	token := newToken()
	if err := st.Update(ctx, func(tx store.Tx) error { return createPrincipal(ctx, tx, name, token) }); err != nil {
		return "", err
	}
	return token, nil
}

// newToken is a random 256-bit bearer token.
func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "st_" + hex.EncodeToString(b[:])
}

// createPrincipal stores a principal and the hash of its token.
func createPrincipal(ctx context.Context, tx store.Tx, name, token string) error {
	if !validPrincipalName(name) {
		return fmt.Errorf("principal name %q: use 1–64 letters, digits, '-', '_' or '.'", name)
	}
	if _, err := putJSON(ctx, tx, principalID(name), principalType, principal{Name: name}, store.Condition{IfNoneMatch: "*"}); err != nil {
		if errors.Is(err, store.ErrPreconditionFailed) {
			return fmt.Errorf("principal %s already exists", name)
		}
		return err
	}
	_, err := putJSON(ctx, tx, tokenID(token), tokenType, tokenRecord{Principal: name}, store.Condition{IfNoneMatch: "*"})
	return err
}

func validPrincipalName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// EnsureAdmin creates the admin principal on first start, with the Owner
// role at the root scope, and writes its token to dir/admin.token (mode
// 0600). It reports whether it did. The token file is written before the
// principal is committed, and the principal and its role in one
// transaction: a crash at any point leaves either a usable admin whose
// token is on disk, or no admin (and the next start tries again).
func EnsureAdmin(ctx context.Context, st store.Store, dir string) (bool, error) {
	if _, err := st.Get(ctx, principalID(AdminName)); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	token := newToken()
	path := filepath.Join(dir, AdminTokenFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	owner, _ := roleByName("Owner")
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := createPrincipal(ctx, tx, AdminName, token); err != nil {
			return err
		}
		_, err := putAssignment(ctx, tx, "", arm.NewGUID(), AdminName, owner, store.Condition{IfNoneMatch: "*"})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("admin principal: %w", err)
	}
	return true, nil
}

// lookupPrincipal reads the principal called name (names compare
// case-insensitively, as the store's ids do).
func lookupPrincipal(ctx context.Context, rd store.Reader, name string) (principal, error) {
	notFound := newError(http.StatusBadRequest, "PrincipalNotFound", "Principal %s does not exist (securetrain principal create NAME).", name)
	if !validPrincipalName(name) {
		return principal{}, notFound
	}
	rec, err := rd.Get(ctx, principalID(name))
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, notFound
	}
	if err != nil {
		return principal{}, err
	}
	var p principal
	if err := json.Unmarshal(rec.Body, &p); err != nil {
		return principal{}, fmt.Errorf("stored principal %s: %w", rec.ID, err)
	}
	return p, nil
}

// authenticate resolves the bearer token to a principal, or fails with
// 401 and ARM's codes.
func (s *Server) authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", newError(http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", newError(http.StatusUnauthorized, "InvalidAuthenticationToken", "The 'Authorization' header must be 'Bearer <token>'.")
	}
	rec, err := s.store.Get(r.Context(), tokenID(strings.TrimSpace(token)))
	if errors.Is(err, store.ErrNotFound) {
		return "", newError(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
	}
	if err != nil {
		return "", err
	}
	var tr tokenRecord
	if err := json.Unmarshal(rec.Body, &tr); err != nil {
		return "", fmt.Errorf("token record: %w", err)
	}
	return tr.Principal, nil
}
