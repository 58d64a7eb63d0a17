package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Session is one logged-in browser.
type Session struct {
	User    string
	CSRF    string // the token every POST form of this session carries
	Created time.Time
	Seen    time.Time
}

// Sessions is the server-side session store: a session ends after Idle
// without a request or MaxAge after login, whichever comes first, or on
// logout. At most Max sessions are kept; beyond that the least recently
// used one is dropped. Ids are kept hashed (SHA-256), so a lookup's timing
// says nothing about a stored id.
type Sessions struct {
	idle, maxAge time.Duration
	max          int
	now          func() time.Time

	mu sync.Mutex
	m  map[[32]byte]*Session
}

// NewSessions makes a store; now nil means time.Now.
func NewSessions(idle, maxAge time.Duration, maxSessions int, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{idle: idle, maxAge: maxAge, max: max(maxSessions, 1), now: now, m: map[[32]byte]*Session{}}
}

// New starts a session for user and returns its id (the cookie value).
func (s *Sessions) New(user string) (string, Session) {
	id := Token()
	now := s.now()
	sess := &Session{User: user, CSRF: Token(), Created: now, Seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.pruneLocked(now)
	}
	for len(s.m) >= s.max {
		var oldest [32]byte
		var at time.Time
		for k, v := range s.m {
			if at.IsZero() || v.Seen.Before(at) {
				oldest, at = k, v.Seen
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = sess
	return id, *sess
}

// Get returns the live session of id and marks it used.
func (s *Sessions) Get(id string) (Session, bool) {
	if id == "" {
		return Session{}, false
	}
	k := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[k]
	if !ok {
		return Session{}, false
	}
	if s.expired(sess, now) {
		delete(s.m, k)
		return Session{}, false
	}
	sess.Seen = now
	return *sess, true
}

// Delete ends the session of id.
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	delete(s.m, sha256.Sum256([]byte(id)))
	s.mu.Unlock()
}

// Len is the number of live sessions (expired ones are dropped first).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(s.now())
	return len(s.m)
}

// MaxAge is the absolute lifetime of a session (the cookie's Max-Age).
func (s *Sessions) MaxAge() time.Duration { return s.maxAge }

func (s *Sessions) expired(sess *Session, now time.Time) bool {
	return now.Sub(sess.Seen) >= s.idle || now.Sub(sess.Created) >= s.maxAge
}

func (s *Sessions) pruneLocked(now time.Time) {
	for k, v := range s.m {
		if s.expired(v, now) {
			delete(s.m, k)
		}
	}
}
