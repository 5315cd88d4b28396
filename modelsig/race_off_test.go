//go:build !race

package modelsig

const raceEnabled = false
