package fleetview

import (
	"errors"
	"testing"
	"time"
)

var (
	t0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	list = []string{"https://10.0.0.1:6443", "https://10.0.0.2:6443", "https://10.0.0.3:6443"}
	rev  = []string{"https://10.0.0.3:6443", "https://10.0.0.2:6443", "https://10.0.0.1:6443"}
)

func view(node, active string, idx int, masters []string, ready bool) View {
	return View{Node: node, Active: active, Index: idx, Since: t0, Ready: ready, Masters: masters}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name        string
		views       []View
		invalid     []InvalidView
		wantAgree   bool
		wantGroups  int
		wantAgainst map[string]int // node -> Disagreeing
	}{
		{name: "all on primary", views: []View{
			view("n1", list[0], 0, list, true), view("n2", list[0], 0, list, true), view("n3", list[0], 0, list, false)},
			wantAgree: true, wantGroups: 1, wantAgainst: map[string]int{"n1": 0, "n3": 0}},
		{name: "one node on the secondary", views: []View{
			view("n1", list[0], 0, list, true), view("n2", list[0], 0, list, true), view("n3", list[1], 1, list, true)},
			wantGroups: 2, wantAgainst: map[string]int{"n1": 1, "n3": 2}},
		{name: "same active, different lists", views: []View{
			view("n1", list[1], 1, list, true), view("n2", list[1], 1, rev, true)},
			wantGroups: 2, wantAgainst: map[string]int{"n1": 1, "n2": 1}},
		{name: "an invalid view", views: []View{view("n1", list[0], 0, list, true)},
			invalid: []InvalidView{{Node: "n9", Err: errors.New("not a view")}}, wantGroups: 1, wantAgainst: map[string]int{"n1": 1}},
		{name: "nothing chosen yet on one node", views: []View{
			view("n1", list[0], 0, list, true), view("n2", "", -1, list, false)},
			wantGroups: 2, wantAgainst: map[string]int{"n1": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.views, tt.invalid)
			if s.Agree() != tt.wantAgree || len(s.Groups) != tt.wantGroups {
				t.Errorf("Agree() = %t with %d groups, want %t with %d", s.Agree(), len(s.Groups), tt.wantAgree, tt.wantGroups)
			}
			for node, want := range tt.wantAgainst {
				for _, v := range tt.views {
					if v.Node == node {
						if got := s.Disagreeing(v); got != want {
							t.Errorf("Disagreeing(%s) = %d, want %d", node, got, want)
						}
					}
				}
			}
			if len(s.Groups) > 1 && len(s.Groups[0].Nodes) < len(s.Groups[1].Nodes) {
				t.Errorf("groups not largest first: %+v", s.Groups)
			}
		})
	}
}
