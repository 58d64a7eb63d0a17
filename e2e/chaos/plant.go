package chaos

// DropOneReading removes one stored reading from o (the first identity in
// sorted order), the planted defect of the checker's self-test. It reports
// which one, or "" if there was none.
func DropOneReading(o *Observed) string {
	ids := sortedKeys(o.Readings)
	if len(ids) == 0 {
		return ""
	}
	if o.Readings[ids[0]]--; o.Readings[ids[0]] == 0 {
		delete(o.Readings, ids[0])
	}
	return ids[0]
}
