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

// tokenScope holds the token hashes.
const tokenScope = "/providers/securetrain/tokens"

func tokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenScope + "/" + hex.EncodeToString(sum[:])
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
	if has, err := HasAdmin(ctx, st); has || err != nil {
		return false, err
	}
	token := newToken()
	path := filepath.Join(dir, AdminTokenFile)
	tmp, stageErr := stageTokenFile(path, token)
	if stageErr != nil {
		return false, stageErr
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

// HasAdmin says whether the store has the administrator principal.
func HasAdmin(ctx context.Context, rd store.Reader) (bool, error) {
	_, err := rd.Get(ctx, principalID(AdminName))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// stageTokenFile writes token to path+".tmp", created afresh with mode
// 0600 (a leftover file, whatever its mode, is removed, never reused), and
// returns that name: renaming it over path publishes the token.
func stageTokenFile(path, token string) (string, error) {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("remove the leftover %s: %w", tmp, err)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", tmp, err)
	}
	_, err = f.WriteString(token + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", tmp, err)
	}
	return tmp, nil
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

// RotateToken replaces every token of the principal with a new one and
// returns it (shown once): the old tokens fail from the commit on, since
// every request looks its token up in the store. The admin's new token
// also replaces dir/admin.token (mode 0600); it is staged beside it before
// the commit and renamed over it after, so a crash in between leaves it in
// admin.token.tmp rather than nowhere.
func RotateToken(ctx context.Context, st store.Store, name, dir string) (string, error) {
	p, err := lookupPrincipal(ctx, st, name)
	if err != nil {
		return "", err
	}
	token := newToken()
	path, tmp := filepath.Join(dir, AdminTokenFile), ""
	if p.Name == AdminName {
		if tmp, err = stageTokenFile(path, token); err != nil {
			return "", err
		}
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		if _, err := deleteTokens(ctx, tx, p.Name); err != nil {
			return err
		}
		_, err := putJSON(ctx, tx, tokenID(token), tokenType, tokenRecord{Principal: p.Name}, store.Condition{IfNoneMatch: "*"})
		return err
	})
	if err != nil {
		if tmp != "" {
			os.Remove(tmp)
		}
		return "", fmt.Errorf("rotate the token of %s: %w", p.Name, err)
	}
	if tmp != "" {
		if err := os.Rename(tmp, path); err != nil {
			return "", fmt.Errorf("the admin's new token is in force but %s could not be replaced (%w): the token is in %s", path, err, tmp)
		}
	}
	return token, nil
}

// RevokeTokens deletes every token of the principal and returns how many:
// they fail from the commit on. The principal and its role assignments
// stay; RotateToken gives it a token again. Revoking the admin's tokens
// removes dir/admin.token, which no longer works.
func RevokeTokens(ctx context.Context, st store.Store, name, dir string) (int, error) {
	p, err := lookupPrincipal(ctx, st, name)
	if err != nil {
		return 0, err
	}
	var n int
	err = st.Update(ctx, func(tx store.Tx) error {
		n, err = deleteTokens(ctx, tx, p.Name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke the tokens of %s: %w", p.Name, err)
	}
	if p.Name == AdminName {
		if err := os.Remove(filepath.Join(dir, AdminTokenFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("tokens revoked, but the stale %s stays: %w", AdminTokenFile, err)
		}
	}
	return n, nil
}

// deleteTokens deletes the tokens of the principal called name.
func deleteTokens(ctx context.Context, tx store.Tx, name string) (int, error) {
	var ids []string
	err := store.Each(ctx, tx, store.Query{Scope: tokenScope, Type: tokenType}, func(rec store.Record) error {
		var tr tokenRecord
		if err := json.Unmarshal(rec.Body, &tr); err != nil {
			return fmt.Errorf("token record %s: %w", rec.ID, err)
		}
		if tr.Principal == name {
			ids = append(ids, rec.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := tx.Delete(ctx, id, store.Condition{}); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
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
	who, err := s.principalOf(r.Context(), strings.TrimSpace(token))
	if errors.Is(err, store.ErrNotFound) {
		return "", newError(http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
	}
	return who, err
}

// principalOf names the principal of a token; store.ErrNotFound when it
// is no token.
func (s *Server) principalOf(ctx context.Context, token string) (string, error) {
	rec, err := s.store.Get(ctx, tokenID(token))
	if err != nil {
		return "", err
	}
	var tr tokenRecord
	if err := json.Unmarshal(rec.Body, &tr); err != nil {
		return "", fmt.Errorf("token record: %w", err)
	}
	return tr.Principal, nil
}
