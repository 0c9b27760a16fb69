package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// ReplayFilePrefix starts the FileInfo name of a replay batch.
const ReplayFilePrefix = "REPLAY_"

// ReplayBatch names the n-th (0-based) batch of a replay, as ingest writes
// it on esr.raw.v1 and the api expects its file report: REPLAY_<id>, then
// REPLAY_<id>_2, _3 ... when the request's rows change dialect or VPD; its
// FileInfo sha256 is the hex SHA-256 of "<id>" (then "<id>_2" ...), so every
// stage keys the batch's state apart from any file's. One definition, since
// ingest and the api must agree on it.
func ReplayBatch(replayID string, n int) (name, sha string) {
	id := replayID
	if n > 0 {
		id += "_" + strconv.Itoa(n+1)
	}
	h := sha256.Sum256([]byte(id))
	return ReplayFilePrefix + id, hex.EncodeToString(h[:])
}
