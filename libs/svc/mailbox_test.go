package svc

import (
	"slices"
	"sync"
	"testing"
)

func TestMailbox(t *testing.T) {
	m := NewMailbox[int]()
	if got := m.Take(); got != nil {
		t.Errorf("Take() of a new mailbox = %v, want nothing", got)
	}
	m.Post(1)
	m.Post(2)
	select {
	case <-m.Ready():
	default:
		t.Fatal("Ready() after Post does not receive")
	}
	select {
	case <-m.Ready():
		t.Error("Ready() received twice for posts before one Take")
	default:
	}
	if got := m.Take(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Take() = %v, want [1 2]", got)
	}
	if got := m.Take(); got != nil {
		t.Errorf("second Take() = %v, want nothing", got)
	}
}

func TestMailboxConcurrentPosts(t *testing.T) {
	m := NewMailbox[int]()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				m.Post(g*100 + i)
			}
		})
	}
	var got []int
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-m.Ready():
			got = append(got, m.Take()...)
		case <-done:
			waiting = false
		}
	}
	got = append(got, m.Take()...)
	if len(got) != 800 {
		t.Fatalf("took %d values, want 800", len(got))
	}
	slices.Sort(got)
	for i, v := range got {
		if v != i {
			t.Fatalf("value %d missing or twice", i)
		}
	}
}
