package sftpd

// MaxPasswordFails is maxPasswordFails, for the external tests.
const MaxPasswordFails = maxPasswordFails
