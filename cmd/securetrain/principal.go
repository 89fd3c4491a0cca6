package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"securetrain/internal/api"
	"securetrain/internal/store"
)

const principalUsage = `usage: securetrain principal create NAME [--data DIR]        (prints the new token once)
       securetrain principal token rotate NAME [--data DIR]  (prints a new token once; the old ones fail at once)
       securetrain principal token revoke NAME [--data DIR]  (every token of NAME fails at once)`

// runPrincipal manages principals and their tokens in the store directly,
// while the server runs or not: the server looks every request's token up
// in the store, so a rotation or revocation holds from the next request.
func runPrincipal(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("principal", "create NAME | token rotate NAME | token revoke NAME [--data DIR]", stderr)
	dataDir := fs.String("data", defaultDataDir, "data directory of the server")
	storeURL := fs.String("store", "", storeUsage)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	ctx := context.Background()
	switch {
	case len(rest) == 2 && rest[0] == "create":
		return onStore("principal", *dataDir, *storeURL, stdout, stderr, func(st store.Store) (string, error) {
			return api.CreatePrincipal(ctx, st, rest[1])
		})
	case len(rest) == 3 && rest[0] == "token" && rest[1] == "rotate":
		return onStore("principal", *dataDir, *storeURL, stdout, stderr, func(st store.Store) (string, error) {
			token, err := api.RotateToken(ctx, st, rest[2], *dataDir)
			if err == nil && strings.EqualFold(rest[2], api.AdminName) {
				fmt.Fprintf(stderr, "wrote the new token to %s (mode 0600)\n", filepath.Join(*dataDir, api.AdminTokenFile))
			}
			return token, err
		})
	case len(rest) == 3 && rest[0] == "token" && rest[1] == "revoke":
		return onStore("principal", *dataDir, *storeURL, stdout, stderr, func(st store.Store) (string, error) {
			n, err := api.RevokeTokens(ctx, st, rest[2], *dataDir)
			if err == nil && strings.EqualFold(rest[2], api.AdminName) {
				fmt.Fprintf(stderr, "removed %s; `securetrain principal token rotate %s` makes a new one\n", filepath.Join(*dataDir, api.AdminTokenFile), api.AdminName)
			}
			return fmt.Sprintf("revoked %d token(s) of %s", n, rest[2]), err
		})
	}
	fmt.Fprintln(stderr, principalUsage)
	return exitBadInput
}
