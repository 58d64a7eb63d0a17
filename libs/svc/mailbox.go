package svc

import "sync"

// Mailbox hands values from other goroutines (a Kafka client's delivery
// goroutine) to the one loop that owns the state they change: Post never
// blocks; the loop wakes on Ready and takes everything posted so far, in
// order, with Take. Create it with NewMailbox.
type Mailbox[T any] struct {
	mu    sync.Mutex
	items []T
	ready chan struct{}
}

// NewMailbox returns an empty mailbox.
func NewMailbox[T any]() *Mailbox[T] { return &Mailbox[T]{ready: make(chan struct{}, 1)} }

// Post adds v and wakes the owner; safe from any goroutine.
func (m *Mailbox[T]) Post(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// Ready receives once after any number of Posts.
func (m *Mailbox[T]) Ready() <-chan struct{} { return m.ready }

// Take returns what was posted since the last Take, oldest first.
func (m *Mailbox[T]) Take() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.items
	m.items = nil
	return items
}
