package ingest

// OpenDelivered exposes openDelivered to the tests.
var OpenDelivered = openDelivered
