package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

const keyColumns = `id, name, key_sha256, tenants, scopes, created_at, created_by, expires_at, revoked_at, revoked_by`

// storedKey is an api_keys row.
type StoredKey struct {
	APIKey
	Hash      string `json:"-"`
	ExpiresMS int64  `json:"-"` // 0: never
	revoked   bool
}

func scanKey(row rowScanner) (*StoredKey, error) {
	var (
		k                  StoredKey
		tenants, scopes    string
		created            int64
		expires, revokedAt sql.NullInt64
		revokedBy          sql.NullString
	)
	err := row.Scan(&k.ID, &k.Name, &k.Hash, &tenants, &scopes, &created, &k.CreatedBy, &expires, &revokedAt, &revokedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tenants), &k.Tenants); err != nil {
		return nil, fmt.Errorf("api key %s tenants: %w", k.ID, err)
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, fmt.Errorf("api key %s scopes: %w", k.ID, err)
	}
	k.CreatedAt = MillisRFC3339(created)
	if expires.Valid {
		k.ExpiresMS = expires.Int64
		k.ExpiresAt = Ptr(MillisRFC3339(expires.Int64))
	}
	if revokedAt.Valid {
		k.revoked = true
		k.RevokedAt = Ptr(MillisRFC3339(revokedAt.Int64))
	}
	k.RevokedBy = nullable(revokedBy)
	return &k, nil
}

func (s *Store) QueryKeys(ctx context.Context, where string, args ...any) ([]*StoredKey, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind(`SELECT `+keyColumns+` FROM api_keys `+where), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*StoredKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

var ErrKeyNameTaken = errors.New("name taken")

// CreateKey stores a key (its hash), unless a key, even a revoked one, has
// its name: the access log, the audit and webhook subscriptions name keys,
// so a name never passes to another key.
func (s *Store) CreateKey(ctx context.Context, k *StoredKey, createdMS int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM api_keys WHERE name = ?`), k.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrKeyNameTaken
	}
	tenants, _ := json.Marshal(k.Tenants)
	scopes, _ := json.Marshal(k.Scopes)
	var expires sql.NullInt64
	if k.ExpiresMS != 0 {
		expires = sql.NullInt64{Int64: k.ExpiresMS, Valid: true}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO api_keys (id, name, key_sha256, tenants, scopes, created_at, created_by, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), k.ID, k.Name, k.Hash, string(tenants), string(scopes), createdMS, k.CreatedBy, expires); err != nil {
		return err
	}
	return tx.Commit()
}

// RevokeKey marks a key revoked; false when it already was.
func (s *Store) RevokeKey(ctx context.Context, id, by string, atMS int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.d.rebind(`UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`), atMS, by, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AnyKey reports whether api_keys has a row, revoked or expired ones too.
func (s *Store) AnyKey(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM api_keys LIMIT 1) k`).Scan(&n); err != nil {
		return false, fmt.Errorf("api keys: %w", err)
	}
	return n > 0, nil
}

// APIKey is a key kept in the database, as the api lists it. The key itself
// is in Key only in the answer to its creation: the database holds its
// SHA-256 alone.
type APIKey struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Tenants   []string `json:"tenants"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"created_at"`
	CreatedBy string   `json:"created_by"`
	ExpiresAt *string  `json:"expires_at"`
	RevokedAt *string  `json:"revoked_at"`
	RevokedBy *string  `json:"revoked_by"`
	Key       string   `json:"key,omitempty"`
}
