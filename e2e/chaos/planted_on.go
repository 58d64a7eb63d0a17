//go:build chaos_planted_defect

package chaos

// PlantedDefect: see planted_off.go.
const PlantedDefect = true
