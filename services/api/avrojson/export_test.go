package avrojson

// DecodeLegacy exposes the hand-written decoder to the comparison test.
var DecodeLegacy = decodeLegacy
