// Package format holds what the ESR file parsers share: the error model,
// row and summary types, streaming line decoding, file-name grammar and the
// typed field helpers.
//
// The dialect readers live in subpackages: gov2 (Generic Outbound v2,
// tilde-delimited), gov1 (Generic Outbound v1, comma-delimited with quotes)
// and csvfeed (header-row CSV reports read through a per-feed mapping).
//
// Civil dates (YYYYMMDD) are returned as time.Time at midnight UTC: they name
// a day, not an instant, so no zone is attached. The zero time.Time means the
// date is absent — an empty field or Oracle's open-ended 4712-12-31.
// Timestamps (YYYYMMDD HHMMSS) are UK wall-clock times and are returned in
// Europe/London.
//
// Nothing in this package logs. Error messages quote an offending value only
// when the field is structural (dates, ids, counts) and not marked sensitive;
// names, NI numbers and dates of birth are never quoted.
package format
