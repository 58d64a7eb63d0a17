//go:build !chaos_planted_defect

package chaos

// PlantedDefect is true in builds with the tag chaos_planted_defect: the
// driver then drops one committed reading from what it read back (as a
// service losing it would) and, on the bundle store, commits one picture
// key in a second bundle (as a service storing it twice would), and the
// checker must fail. See the checker's
// self-test (make chaos-selftest).
const PlantedDefect = false
