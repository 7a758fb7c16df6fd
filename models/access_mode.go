package models

// AccessMode is what a request asks, and its grant allows, of personal
// fields: the customer consents to exactly one of these.
type AccessMode string

// The access modes.
const (
	// ModeMasked shows personal fields masked; no field can be revealed.
	ModeMasked AccessMode = "masked"
	// ModeReveal shows personal fields masked; a single field of a record
	// may be revealed, each time with a recorded reason the customer sees.
	ModeReveal AccessMode = "reveal"
	// ModeUnmasked shows personal fields in full.
	ModeUnmasked AccessMode = "unmasked"
)

// ModeMessage is what a request form says of a missing or unknown mode.
const ModeMessage = "Choose how personal fields are shown: masked, masked with single reveals, or unmasked."

// AccessModes are the modes, narrowest first.
var AccessModes = []AccessMode{ModeMasked, ModeReveal, ModeUnmasked}

// Valid reports whether m is one of the modes.
func (m AccessMode) Valid() bool {
	return m == ModeMasked || m == ModeReveal || m == ModeUnmasked
}

// Unmasks reports whether m shows personal fields in full.
func (m AccessMode) Unmasks() bool { return m == ModeUnmasked }

// Reveals reports whether m lets a single field be revealed.
func (m AccessMode) Reveals() bool { return m == ModeReveal }

// rank orders the modes by how much they show; an invalid mode shows
// nothing.
func (m AccessMode) rank() int {
	switch m {
	case ModeReveal:
		return 1
	case ModeUnmasked:
		return 2
	}
	return 0
}

// legacyMode is the mode a grant made before modes existed had: unmask
// meant unmasked; otherwise fields were masked, and single fields could
// be revealed (nothing refused a reveal). Migration 00011 reads old rows
// the same way.
func legacyMode(unmask bool) AccessMode {
	if unmask {
		return ModeUnmasked
	}
	return ModeReveal
}
