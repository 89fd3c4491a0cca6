package studio

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	"securetrain/internal/clock"
)

// Sessions live in the server's memory only: the cookie carries a random
// 256-bit id, the map is keyed by its SHA-256 (a memory dump shows no
// usable cookie), and the principal's token stays on the server. A
// restart signs everyone out.

// errTooManySessions refuses a sign-in when maxSessions are live.
var errTooManySessions = errors.New("too many studio sessions are open; try again when some have expired")

// maxSessions bounds the memory sessions take: only holders of a valid
// token can open one, but one token could open many.
const maxSessions = 10000

// session is one signed-in browser.
type session struct {
	principal string
	// token is the principal's bearer token, presented to the API on each
	// call: a revoked or rotated token ends the session at its next
	// request.
	token string
	// csrf is the token every state-changing request must carry.
	csrf     string
	created  time.Time
	lastSeen time.Time
	// recent are the subscriptions picked lately, newest first.
	recent []string
	// cookie is the session's id, in the copies get returns only.
	cookie string
}

// sessions holds the live sessions.
type sessions struct {
	mu       sync.Mutex
	byHash   map[string]*session
	clock    clock.Clock
	idle     time.Duration // a session unused this long ends
	lifetime time.Duration // a session ends this long after sign-in, used or not
}

func newSessions(c clock.Clock, idle, lifetime time.Duration) *sessions {
	return &sessions{byHash: map[string]*session{}, clock: c, idle: idle, lifetime: lifetime}
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hashOf(cookie string) string {
	sum := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(sum[:])
}

// create opens a session for principal and returns the cookie's value.
func (ss *sessions) create(principal, token string) (string, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.clock.Now()
	if len(ss.byHash) >= maxSessions {
		for h, s := range ss.byHash {
			if ss.expired(s, now) {
				delete(ss.byHash, h)
			}
		}
		if len(ss.byHash) >= maxSessions {
			return "", errTooManySessions
		}
	}
	id := randomToken()
	ss.byHash[hashOf(id)] = &session{principal: principal, token: token, csrf: randomToken(), created: now, lastSeen: now}
	return id, nil
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= ss.idle || now.Sub(s.created) >= ss.lifetime
}

// get returns a copy of the live session of cookie and marks it used; an
// expired one is ended.
func (ss *sessions) get(cookie string) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	h := hashOf(cookie)
	s, ok := ss.byHash[h]
	if !ok {
		return session{}, false
	}
	now := ss.clock.Now()
	if ss.expired(s, now) {
		delete(ss.byHash, h)
		return session{}, false
	}
	s.lastSeen = now
	out := *s
	out.recent = slices.Clone(s.recent)
	out.cookie = cookie
	return out, true
}

// alive reports whether the session of cookie is live, without marking
// it used: an open log stream does not keep a session from expiring.
func (ss *sessions) alive(cookie string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byHash[hashOf(cookie)]
	return ok && !ss.expired(s, ss.clock.Now())
}

// remember puts sub first in the session's recent subscriptions.
func (ss *sessions) remember(cookie, sub string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.byHash[hashOf(cookie)]; ok {
		s.recent = slices.DeleteFunc(s.recent, func(r string) bool { return r == sub })
		s.recent = append([]string{sub}, s.recent[:min(len(s.recent), 4)]...)
	}
}

// end removes the session of cookie.
func (ss *sessions) end(cookie string) {
	ss.mu.Lock()
	delete(ss.byHash, hashOf(cookie))
	ss.mu.Unlock()
}

// validCSRF compares a request's CSRF token with the session's in
// constant time.
func (s session) validCSRF(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}
