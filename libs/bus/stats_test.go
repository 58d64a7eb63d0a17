package bus

import "testing"

func TestRdkafkaBuffered(t *testing.T) {
	tests := []struct {
		name      string
		give      string
		wantMsgs  int64
		wantBytes int64
		wantErr   bool
	}{
		{name: "producer", give: `{"type":"producer","msg_cnt":12,"msg_size":3400,"topics":{"node1":{"partitions":
			{"0":{"fetchq_cnt":0,"fetchq_size":0,"msgq_cnt":5}}}}}`, wantMsgs: 12, wantBytes: 3400},
		{name: "idle producer", give: `{"type":"producer","msg_cnt":0,"msg_size":0}`},
		// Every assigned partition's fetch queue is forwarded to the one
		// consumer queue and reports its length: counted once. The
		// unassigned partition -1 has its own (empty) queue.
		{name: "consumer", give: `{"type":"consumer","msg_cnt":0,"msg_size":0,"topics":{
			"node1":{"partitions":{"0":{"fetchq_cnt":40,"fetchq_size":4000},"1":{"fetchq_cnt":40,"fetchq_size":4000},"-1":{"fetchq_cnt":0,"fetchq_size":0}}},
			"node2":{"partitions":{"0":{"fetchq_cnt":40,"fetchq_size":4000}}}}}`, wantMsgs: 40, wantBytes: 4000},
		{name: "consumer without assignment", give: `{"type":"consumer","topics":{}}`},
		{name: "not json", give: `{"type":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, bytes, err := rdkafkaBuffered([]byte(tt.give))
			if (err != nil) != tt.wantErr {
				t.Fatalf("rdkafkaBuffered() error = %v, want error %v", err, tt.wantErr)
			}
			if msgs != tt.wantMsgs || bytes != tt.wantBytes {
				t.Errorf("rdkafkaBuffered() = %d messages, %d bytes, want %d, %d", msgs, bytes, tt.wantMsgs, tt.wantBytes)
			}
		})
	}
}
