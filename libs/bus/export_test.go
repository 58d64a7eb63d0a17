package bus

// FranzAhead tells, of a franz consumer, how many records wait ahead
// (taken from franz-go, not handed out yet) and how many franz-go buffers;
// ok is false for another backend.
func FranzAhead(c Consumer) (ahead, buffered int64, ok bool) {
	fc, ok := c.(*franzConsumer)
	if !ok {
		return 0, 0, false
	}
	n, _ := fc.aheadSize()
	return n, fc.cl.BufferedFetchRecords(), true
}
