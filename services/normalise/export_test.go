package normalise

// MappingCodeVersion exposes mappingCodeVersion to the package's external
// tests (the mapping fingerprint test records it in its golden file).
const MappingCodeVersion = mappingCodeVersion
